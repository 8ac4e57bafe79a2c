"""Test knobs of the emulator: lock time, per-operation rate limits and injected faults.

``--rate OPERATION=TPS`` answers ThrottlingException above the rate (a token bucket per operation,
burst ``max(1, rate)``, like the documented HealthImaging quotas); ``--fault OPERATION=KIND:PROBABILITY``
injects ``throttle`` (429), ``500`` (InternalServerException), ``drop`` (the connection closes with no
answer) or ``update_failed`` (the update is accepted, then ends UPDATE_FAILED keeping the old content).
OPERATION may be ``*`` for every operation.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from reconciler.errors import UsageError

FAULT_KINDS = ("throttle", "500", "drop", "update_failed")
Fault = tuple[str, float]  # (kind, probability)


@dataclass(frozen=True)
class EmulatorConfig:
    """Everything configurable about one emulator instance (both transports)."""

    lock_seconds: float = 0.0
    rates: dict[str, float] = field(default_factory=dict)
    faults: dict[str, list[Fault]] = field(default_factory=dict)
    seed: int | None = None
    access_key: str = "test"
    secret_key: str = "test"


class TokenBucket:
    """Classic token bucket: RATE tokens per second, at most BURST saved up. Thread-safe."""

    def __init__(self, rate: float, burst: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.rate = rate
        self.burst = burst
        self._clock = clock
        self._tokens = burst
        self._last = clock()
        self._lock = threading.Lock()

    def take(self) -> bool:
        """Spend one token if there is one; False means "over the rate"."""
        with self._lock:
            now = self._clock()
            self._tokens = min(self.burst, self._tokens + (now - self._last) * self.rate)
            self._last = now
            if self._tokens >= 1.0:
                self._tokens -= 1.0
                return True
            return False


class Knobs:
    """The live state behind an EmulatorConfig: buckets per operation and a seeded fault dice."""

    def __init__(self, config: EmulatorConfig, clock: Callable[[], float] = time.monotonic) -> None:
        self.config = config
        self._clock = clock
        self._buckets: dict[str, TokenBucket] = {}
        self._lock = threading.Lock()
        self._random = random.Random(config.seed)

    def admit(self, operation: str) -> bool:
        """True when OPERATION is within its rate (its own, else ``*``, else unlimited)."""
        rate = self.config.rates.get(operation, self.config.rates.get("*"))
        if rate is None:
            return True
        # With a "*" rate every operation still gets its own bucket, as the service's quotas are per action.
        with self._lock:
            bucket = self._buckets.get(operation)
            if bucket is None:
                bucket = self._buckets[operation] = TokenBucket(rate, max(1.0, rate), self._clock)
        return bucket.take()

    def fault(self, operation: str) -> str | None:
        """The fault KIND to inject for this call of OPERATION, or None."""
        faults = self.config.faults.get(operation, []) + self.config.faults.get("*", [])
        for kind, probability in faults:
            with self._lock:
                roll = self._random.random()
            if roll < probability:
                return kind
        return None


def parse_rate_options(items: list[str]) -> dict[str, float]:
    """Parse repeated ``OPERATION=TPS`` (OPERATION may be ``*``)."""
    rates: dict[str, float] = {}
    for item in items:
        op, sep, value = item.partition("=")
        if not sep or not op.strip():
            raise UsageError(f"--rate {item!r}: expected OPERATION=TPS, e.g. UpdateImageSetMetadata=0.25")
        try:
            tps = float(value)
        except ValueError:
            raise UsageError(f"--rate {item!r}: TPS must be a number") from None
        if not tps > 0:
            raise UsageError(f"--rate {item!r}: TPS must be greater than 0")
        rates[op.strip()] = tps
    return rates


def parse_fault_options(items: list[str]) -> dict[str, list[Fault]]:
    """Parse repeated ``OPERATION=KIND:PROBABILITY`` (OPERATION may be ``*``; PROBABILITY in [0, 1])."""
    faults: dict[str, list[Fault]] = {}
    for item in items:
        op, sep, rest = item.partition("=")
        kind, sep2, prob = rest.rpartition(":")
        if not sep or not sep2 or not op.strip():
            raise UsageError(f"--fault {item!r}: expected OPERATION=KIND:PROBABILITY, e.g. '*=500:0.1'")
        if kind not in FAULT_KINDS:
            raise UsageError(f"--fault {item!r}: KIND must be one of {', '.join(FAULT_KINDS)}")
        try:
            probability = float(prob)
        except ValueError:
            raise UsageError(f"--fault {item!r}: PROBABILITY must be a number") from None
        if not 0.0 <= probability <= 1.0:
            raise UsageError(f"--fault {item!r}: PROBABILITY must be between 0 and 1")
        faults.setdefault(op.strip(), []).append((kind, probability))
    return faults
