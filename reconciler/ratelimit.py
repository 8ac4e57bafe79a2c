"""Client-side pacing per HealthImaging operation, and retry backoff with full jitter.

The defaults are the documented per-account throttling quotas
(https://docs.aws.amazon.com/healthimaging/latest/devguide/throttling-limits.html): pacing ourselves
below them means a ThrottlingException is the exception, not the steady state. How each operation is
paced (margin, spacing from the answer, AIMD) is ``reconciler.pacing``. Clock and sleep are injectable
so the maths is tested with a fake clock.
"""

from __future__ import annotations

import math
import random
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from reconciler.errors import Cancelled, UsageError
from reconciler.pacing import MARGIN, SLACK, Pacer, TokenBucket

Clock = Callable[[], float]
Sleep = Callable[[float], None]

# operation -> (transactions per second, burst)
DEFAULT_QUOTAS: dict[str, tuple[float, float]] = {
    "GetImageSetMetadata": (50.0, 100.0),
    "GetImageSet": (25.0, 50.0),
    "SearchImageSets": (25.0, 50.0),
    "ListImageSetVersions": (25.0, 50.0),
    "UpdateImageSetMetadata": (0.25, 1.0),
    "CopyImageSet": (0.25, 1.0),
    "DeleteImageSet": (0.25, 1.0),
    "GetImageFrame": (1000.0, 2000.0),
    "GetDatastore": (10.0, 20.0),
    "ListDatastores": (5.0, 10.0),
    "CreateDatastore": (0.085, 1.0),
    "DeleteDatastore": (0.085, 1.0),
    "StartDICOMImportJob": (1.0, 2.0),
    "GetDICOMImportJob": (25.0, 50.0),
    "ListDICOMImportJobs": (10.0, 20.0),
    "TagResource": (10.0, 20.0),
    "UntagResource": (10.0, 20.0),
    "ListTagsForResource": (10.0, 20.0),
}


Limit = tuple[float, float | None]  # (transactions per second, burst or None for the default)


def parse_limits(items: list[str]) -> dict[str, Limit]:
    """Parse repeated ``OPERATION=TPS[:BURST]`` options (OPERATION may be ``*``): the client's ``--rate``
    and the emulator's take the same form. BURST is how many requests may go at once (at least 1)."""
    limits: dict[str, Limit] = {}
    for item in items:
        op, sep, value = item.partition("=")
        if not sep or not op.strip():
            raise UsageError(f"--rate {item!r}: expected OPERATION=TPS[:BURST], e.g. UpdateImageSetMetadata=0.25:1")
        tps_text, colon, burst_text = value.partition(":")
        tps = _number(item, tps_text, "TPS")
        if not tps > 0:
            raise UsageError(f"--rate {item!r}: TPS must be greater than 0")
        burst = _number(item, burst_text, "BURST") if colon else None
        if burst is not None and not burst >= 1:
            raise UsageError(f"--rate {item!r}: BURST must be at least 1")
        limits[op.strip()] = (tps, burst)
    return limits


def _number(item: str, text: str, what: str) -> float:
    try:
        number = float(text)
    except ValueError:
        raise UsageError(f"--rate {item!r}: {what} must be a number") from None
    if not math.isfinite(number):
        raise UsageError(f"--rate {item!r}: {what} must be a finite number")
    return number


def parse_rates(items: list[str]) -> dict[str, float]:
    """The TPS of each ``OPERATION=TPS[:BURST]`` option (see ``parse_limits``)."""
    return {op: tps for op, (tps, _burst) in parse_limits(items).items()}


def rate_of(op: str, rates: Mapping[str, float] | None = None) -> float | None:
    """The configured requests per second of OP under RATES overrides (OP itself, else ``*``), else its
    documented quota; None when OP is not limited. What the limiter is built with, read without one."""
    overrides = rates or {}
    if op in overrides:
        return overrides[op]
    if "*" in overrides:
        return overrides["*"]
    quota = DEFAULT_QUOTAS.get(op)
    return quota[0] if quota else None


def parse_bursts(items: list[str]) -> dict[str, float]:
    """The BURST of each ``OPERATION=TPS:BURST`` option that gives one."""
    return {op: burst for op, (_tps, burst) in parse_limits(items).items() if burst is not None}


class Permit:
    """One request's claim on its operation's pacer. Say once how it ended; later calls do nothing."""

    def __init__(self, pacer: Pacer | None, clock: Clock, waited: float) -> None:
        self.waited = waited  # seconds slept before the request could be sent
        self._pacer = pacer
        self._clock = clock
        self._open = pacer is not None

    def answered(self) -> None:
        """The request succeeded: the rate may grow back towards the quota."""
        self._end(throttled=False, answered=True)

    def failed(self, *, throttled: bool) -> None:
        """The request ended in an error (the rate stays) or, when THROTTLED, a ThrottlingException
        (the rate drops)."""
        self._end(throttled=throttled, answered=False)

    def _end(self, *, throttled: bool, answered: bool) -> None:
        if self._open and self._pacer is not None:
            self._open = False
            self._pacer.end(self._clock(), throttled=throttled, answered=answered)


CANCEL_POLL = 0.05  # seconds between looks at a cancel event while waiting to send


class RateLimiter:
    """One ``Pacer`` per operation. ``begin(op)`` blocks until a request may be sent.

    Thread-safe: the planner and the applier call it from a thread pool. RATES override the quotas per
    operation (``*``: every operation, each paced on its own), BURSTS their bursts; an override without
    a burst gets one second's worth of requests, and at least one. Operations with no quota are not
    limited. MARGIN and SLACK are ``reconciler.pacing``'s safety margins (0 in tests of pure maths).
    """

    def __init__(
        self,
        rates: Mapping[str, float] | None = None,
        *,
        bursts: Mapping[str, float] | None = None,
        quotas: Mapping[str, tuple[float, float]] = DEFAULT_QUOTAS,
        clock: Clock = time.monotonic,
        sleep: Sleep = time.sleep,
        margin: float = MARGIN,
        slack: float = SLACK,
    ) -> None:
        self._clock = clock
        self._sleep = sleep
        self._margin = margin
        self._slack = slack
        self._limits: dict[str, tuple[float, float]] = dict(quotas)
        overrides = dict(rates or {})
        given = dict(bursts or {})
        self._default: tuple[float, float] | None = None
        if "*" in overrides:  # every operation, each with its own pacer, unless named on its own
            self._default = _limit("*", overrides.pop("*"), given.get("*"))
            self._limits = dict.fromkeys(self._limits, self._default)
        for op, tps in overrides.items():
            self._limits[op] = _limit(op, tps, given.get(op))
        self._pacers: dict[str, Pacer] = {}
        self._lock = threading.Lock()

    def limit(self, op: str) -> tuple[float, float] | None:
        """The configured (rate, burst) for OP, or None when it is not limited."""
        return self._limits.get(op, self._default)

    def rate(self, op: str) -> float | None:
        """The rate OP is paced at now: its configured rate, or less after throttling."""
        pacer = self._pacer(op)
        return pacer.rate if pacer is not None else None

    def _pacer(self, op: str) -> Pacer | None:
        with self._lock:
            pacer = self._pacers.get(op)
            limit = self._limits.get(op, self._default)
            if pacer is None and limit is not None:
                pacer = self._pacers[op] = Pacer(limit[0], limit[1], self._clock, margin=self._margin,
                                                 slack=self._slack)
            return pacer

    def begin(self, op: str, cancel: threading.Event | None = None) -> Permit:
        """Wait until a request of OP may be sent. The caller must end the permit once the answer (or
        the failure) is in: a strict operation's next request is spaced from that moment.

        With CANCEL, a set event means "send nothing more": no slot is claimed once it is set, and a
        wait for one ends (within ``CANCEL_POLL`` seconds) when it is set; both raise ``Cancelled``.
        """
        if cancel is not None and cancel.is_set():
            raise Cancelled(f"{op} not sent: the run is stopping")
        pacer = self._pacer(op)
        if pacer is None:
            return Permit(None, self._clock, 0.0)
        wait = pacer.begin()
        if wait > 0 or cancel is not None:
            try:
                if cancel is None:
                    self._sleep(wait)
                else:
                    self._sleep_unless(cancel, wait, op)
            except BaseException:  # interrupted: release the slot, or the next caller waits forever
                pacer.end(self._clock(), answered=False)
                raise
        return Permit(pacer, self._clock, wait)

    def _sleep_unless(self, cancel: threading.Event, wait: float, op: str) -> None:
        """Sleep WAIT seconds in short steps (the injected sleep, so a fake clock still works) until CANCEL."""
        until = self._clock() + wait
        while not cancel.is_set():
            left = until - self._clock()
            if left <= 0:
                return
            self._sleep(min(left, CANCEL_POLL))
        raise Cancelled(f"{op} not sent: the run is stopping")

    def acquire(self, op: str) -> float:
        """Wait for OP's next slot as for a request answered at once; return how long this call waited."""
        permit = self.begin(op)
        permit.answered()
        return permit.waited

    def throttled(self, op: str) -> None:
        """Tell the limiter the service throttled OP: its rate drops and its saved burst is dropped."""
        pacer = self._pacer(op)
        if pacer is not None:
            pacer.throttled(self._clock())


def _limit(op: str, tps: float, burst: float | None) -> tuple[float, float]:
    if not tps > 0:
        raise ValueError(f"rate for {op} must be > 0")
    if burst is not None and not burst >= 1:
        raise ValueError(f"burst for {op} must be >= 1")
    return (tps, burst if burst is not None else max(1.0, tps))


@dataclass(frozen=True)
class RetryPolicy:
    """Exponential backoff with full jitter, bounded in attempts and in total time.

    Full jitter (sleep uniformly in [0, min(cap, base * 2**n)]) spreads the retries of many workers,
    as recommended in https://aws.amazon.com/blogs/architecture/exponential-backoff-and-jitter/.
    """

    max_attempts: int = 8
    base: float = 0.25
    cap: float = 20.0
    max_total: float = 120.0  # seconds from the first attempt after which no retry is started

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            raise ValueError("max_attempts must be >= 1")

    def backoff(self, retry: int, rand: Callable[[], float] = random.random) -> float:
        """The sleep before retry number RETRY (1 for the first retry)."""
        ceiling = min(self.cap, self.base * 2.0 ** (retry - 1))
        return rand() * ceiling

    def next_delay(
        self, attempts_made: int, elapsed: float, rand: Callable[[], float] = random.random
    ) -> float | None:
        """How long to sleep before another attempt, or None when the budget is spent."""
        if attempts_made >= self.max_attempts:
            return None
        delay = self.backoff(attempts_made, rand)
        if elapsed + delay > self.max_total:
            return None
        return delay


__all__ = ["DEFAULT_QUOTAS", "Limit", "Permit", "RateLimiter", "RetryPolicy", "TokenBucket", "parse_bursts",
           "parse_limits", "parse_rates"]
