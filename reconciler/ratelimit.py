"""Client-side pacing: a token bucket per HealthImaging operation, and retry backoff with full jitter.

Both take an injectable clock and sleep so their maths is tested with a fake clock. The defaults are
the documented per-account throttling quotas (reference section 5.1,
https://docs.aws.amazon.com/healthimaging/latest/devguide/throttling-limits.html): pacing ourselves
below them means a ThrottlingException is the exception, not the steady state.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from reconciler.errors import Cancelled, UsageError

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


class TokenBucket:
    """A token bucket: RATE tokens per second, at most BURST saved up. Thread-safe; time is passed in.

    The client reserves (``reserve``: take a token now, be told how long to wait; tokens may go negative,
    so waiters queue in arrival order and never spin); the emulator admits or refuses (``take``).
    """

    def __init__(self, rate: float, burst: float, now: float) -> None:
        if rate <= 0 or burst < 1:
            raise ValueError("rate must be > 0 and burst >= 1")
        self.rate = rate
        self.burst = burst
        self._tokens = burst
        self._last = now
        self._lock = threading.Lock()

    def _refill(self, now: float, ceiling: float) -> None:
        elapsed = max(0.0, now - self._last)
        self._last = max(self._last, now)
        self._tokens = min(ceiling, self._tokens + elapsed * self.rate)

    def reserve(self, now: float) -> float:
        """Take one token; return the seconds the caller must wait before using it."""
        with self._lock:
            self._refill(now, self.burst)
            self._tokens -= 1.0
            return 0.0 if self._tokens >= 0 else -self._tokens / self.rate

    def take(self, now: float) -> bool:
        """Spend one token if there is one now; False means "over the rate" (nothing is spent)."""
        with self._lock:
            self._refill(now, self.burst)
            if self._tokens >= 1.0:
                self._tokens -= 1.0
                return True
            return False

    def drain(self, now: float) -> None:
        """Forget any saved burst (after the service throttled us, the burst is not really there)."""
        with self._lock:
            self._refill(now, 0.0)


def parse_rates(items: list[str]) -> dict[str, float]:
    """Parse repeated ``OPERATION=TPS`` options (OPERATION may be ``*``): the client's ``--rate`` and the
    emulator's take the same form."""
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


CANCEL_POLL = 0.05  # seconds between looks at a cancel event while waiting for a token


class RateLimiter:
    """One token bucket per operation. ``acquire(op)`` blocks until a request may be sent.

    Thread-safe: the planner and the applier call it from a thread pool. RATES override the quotas per
    operation (``*``: every operation, each in its own bucket). Operations with no quota are not limited.
    """

    def __init__(
        self,
        rates: Mapping[str, float] | None = None,
        *,
        quotas: Mapping[str, tuple[float, float]] = DEFAULT_QUOTAS,
        clock: Clock = time.monotonic,
        sleep: Sleep = time.sleep,
    ) -> None:
        self._clock = clock
        self._sleep = sleep
        self._limits: dict[str, tuple[float, float]] = dict(quotas)
        overrides = dict(rates or {})
        self._default: tuple[float, float] | None = None
        if "*" in overrides:  # every operation, each with its own bucket, unless named on its own
            every = overrides.pop("*")
            if every <= 0:
                raise ValueError("rate for * must be > 0")
            self._default = (every, max(1.0, every))
            self._limits = dict.fromkeys(self._limits, self._default)
        for op, tps in overrides.items():
            if tps <= 0:
                raise ValueError(f"rate for {op} must be > 0")
            # an override sets the rate; its burst is one second's worth, and at least one request
            self._limits[op] = (tps, max(1.0, tps))
        self._buckets: dict[str, TokenBucket] = {}
        self._lock = threading.Lock()

    def limit(self, op: str) -> tuple[float, float] | None:
        """The (rate, burst) in force for OP, or None when it is not limited."""
        return self._limits.get(op, self._default)

    def _bucket(self, op: str) -> TokenBucket | None:
        with self._lock:
            bucket = self._buckets.get(op)
            limit = self._limits.get(op, self._default)
            if bucket is None and limit is not None:
                bucket = self._buckets[op] = TokenBucket(limit[0], limit[1], self._clock())
            return bucket

    def acquire(self, op: str, cancel: threading.Event | None = None) -> float:
        """Wait for a token of OP; return how long this call waited (0.0 when not limited).

        With CANCEL, a set event means "send nothing more": no token is taken once it is set, and a wait
        for one ends (within ``CANCEL_POLL`` seconds) when it is set; both raise ``Cancelled``.
        """
        if cancel is not None and cancel.is_set():
            raise Cancelled(f"{op} not sent: the run is stopping")
        bucket = self._bucket(op)
        if bucket is None:
            return 0.0
        wait = bucket.reserve(self._clock())
        if wait > 0 and cancel is not None:
            self._sleep_unless(cancel, wait, op)
        elif wait > 0:
            self._sleep(wait)
        return wait

    def _sleep_unless(self, cancel: threading.Event, wait: float, op: str) -> None:
        """Sleep WAIT seconds in short steps (the injected sleep, so a fake clock still works) until CANCEL."""
        until = self._clock() + wait
        while not cancel.is_set():
            left = until - self._clock()
            if left <= 0:
                return
            self._sleep(min(left, CANCEL_POLL))
        raise Cancelled(f"{op} not sent: the run is stopping")

    def throttled(self, op: str) -> None:
        """Tell the limiter the service throttled OP, so the remaining burst is not spent at once."""
        bucket = self._bucket(op)
        if bucket is not None:
            bucket.drain(self._clock())


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
