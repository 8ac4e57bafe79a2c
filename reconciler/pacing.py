"""Pacing one operation so that the service's token bucket never refuses it: the bucket maths.

A server that admits RATE requests per second with a burst of BURST refuses a request that arrives when
its bucket holds less than one token. The client cannot see the server's clock: a request reaches the
server some unknown time between the moment it is sent and the moment its answer arrives, and that
delay jitters (network, TLS, thread scheduling, GC). Pacing at exactly the quota, measured on the
client's clock, therefore turns jitter into ThrottlingExceptions against a server whose burst is 1
(UpdateImageSetMetadata, CopyImageSet and DeleteImageSet are 0.25 TPS with a burst of 1:
https://docs.aws.amazon.com/healthimaging/latest/devguide/throttling-limits.html). ``Pacer`` closes
that gap with four rules:

* **Strict operations (burst below 2) are spaced from the answer.** The previous request was admitted
  at the latest when its answer arrived, and the next one cannot be admitted before it is sent, so
  sending the next one ``interval`` after the previous answer is safe whatever the jitter. One request
  of the operation is in flight at a time; the cost is one round trip per request (a few percent at
  4 s per update), bought back by pipelining the LOCKED time of the image sets.
* **Bursty operations keep one token in reserve.** The client spends at most ``burst - 1`` at once,
  so the server always holds one spare token, which absorbs up to one interval of jitter without
  slowing the steady rate.
* **A safety margin** (``MARGIN``, a few percent) on every interval covers the difference between the
  two clocks' rates and a server that counts its refill coarsely; ``SLACK`` (a few milliseconds) is
  added to the strict interval for timer granularity.
* **AIMD on throttling.** A ThrottlingException means the server is stricter than we think (another
  client shares the quota, or a ``--rate`` above the real quota): the rate drops to ``DECREASE`` of
  itself (never below ``FLOOR`` of the configured rate), then grows back by ``INCREASE`` of the
  configured rate with each answered request, never above it. Additive increase, multiplicative
  decrease (as TCP does) settles below a limit it cannot see instead of retrying into it. The factor
  0.7 is the one botocore's own adaptive retry mode applies on a throttle (``CubicCalculator`` in
  https://github.com/boto/botocore/blob/develop/botocore/retries/throttling.py); we do not use that
  mode because it starts with no rate at all and knows nothing of the documented quotas.

Everything takes an injectable clock, so the maths is tested with a fake one.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Callable

Clock = Callable[[], float]

MARGIN = 0.03  # every interval is 3 % longer than the quota's
SLACK = 0.005  # seconds added to a strict operation's interval
DECREASE = 0.7  # a throttle multiplies the rate by this
FLOOR = 1 / 16  # ... but never below this fraction of the configured rate
INCREASE = 0.05  # each answered request adds this fraction of the configured rate back


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

    def set_rate(self, rate: float, now: float) -> None:
        """Change the refill rate from NOW on (what accrued until NOW accrued at the old rate)."""
        with self._lock:
            self._refill(now, self.burst)
            self.rate = rate


class Pacer:
    """Paces one operation against a server bucket of (RATE, BURST); see the module docstring.

    ``begin()`` returns the seconds to wait before sending (and, for a strict operation, blocks while
    another request of it is in flight); ``end(now, ...)`` must follow once the answer (or the failure)
    is in. Thread-safe.
    """

    def __init__(self, rate: float, burst: float, clock: Clock, *, margin: float = MARGIN,
                 slack: float = SLACK) -> None:
        if not (rate > 0 and burst >= 1 and margin >= 0 and slack >= 0):
            raise ValueError("rate must be > 0, burst >= 1, margin and slack >= 0")
        self.quota = rate
        self.burst = burst
        self.strict = burst < 2
        self.rate = rate  # the current rate: the quota, or less after throttling
        self.throttles = 0  # ThrottlingExceptions this pacer was told of
        self._margin = margin
        self._slack = slack
        self._clock = clock
        self._bucket = None if self.strict else TokenBucket(self._bucket_rate(), burst - 1, clock())
        self._ready = -math.inf  # strict: the earliest time the next request may be sent
        self._busy = False  # strict: a request is in flight
        self._cond = threading.Condition()

    @property
    def interval(self) -> float:
        """Seconds between two requests at the current rate, margin (and, when strict, slack) included."""
        return (1.0 + self._margin) / self.rate + (self._slack if self.strict else 0.0)

    def _bucket_rate(self) -> float:
        return self.rate / (1.0 + self._margin)

    def begin(self) -> float:
        """Claim the next send slot; return how long to wait before sending."""
        if self._bucket is not None:
            return self._bucket.reserve(self._clock())
        with self._cond:
            while self._busy:
                self._cond.wait()
            self._busy = True
            now = self._clock()
            send = max(now, self._ready)
            self._ready = send + self.interval  # spaced from the send even when answers come at once
            return send - now

    def end(self, now: float, *, throttled: bool = False, answered: bool = True) -> None:
        """The request begun last is over at NOW: THROTTLED by the service, ANSWERED, or neither
        (a 5xx, a dropped connection: the rate stays)."""
        with self._cond:
            self._adjust(now, throttled=throttled, answered=answered)
            if self.strict:
                self._busy = False
                self._cond.notify()

    def throttled(self, now: float) -> None:
        """The service throttled a request of this operation (one not begun here): slow down."""
        with self._cond:
            self._adjust(now, throttled=True, answered=False)

    def _adjust(self, now: float, *, throttled: bool, answered: bool) -> None:
        """AIMD on the rate, then the spacing of the next request (under the lock)."""
        if throttled:
            self.throttles += 1
            self.rate = max(self.quota * FLOOR, self.rate * DECREASE)
        elif answered:
            self.rate = min(self.quota, self.rate + self.quota * INCREASE)
        if self._bucket is not None:
            self._bucket.set_rate(self._bucket_rate(), now)
            if throttled:
                self._bucket.drain(now)
        else:
            self._ready = max(self._ready, now + self.interval)  # spaced from the answer
