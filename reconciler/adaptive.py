"""Learning an operation's rate from the service's answers, when nobody told us the account's quota.

HealthImaging's throttling quotas are per account and adjustable, and the published numbers disagree
(https://docs.aws.amazon.com/healthimaging/latest/devguide/throttling-limits.html gives
UpdateImageSetMetadata 0.25 requests a second with a burst of 1, the Markdown source of the same page
10 a second with a burst of 40). ``AdaptivePacer`` starts from a rate it is given (the rate learned for
the account in an earlier run, else the documented quota), then:

* **Slow start.** Until the first ThrottlingException the rate doubles with each answered request, as
  TCP's slow start does: an account whose quota is far above the start is found in a few requests, and
  the server's saved burst is spent at once (as a client that knew it would).
* **Back off, then bisect.** A throttle tells us the rate is too high (``high``): the rate halves, but
  never below ``low``, the rate last known to hold. A request sent before the previous decrease says
  nothing new and changes nothing (one decrease per round, as TCP does per window). After ``patience``
  answered requests in a row at a rate, that rate holds (``low``), and the next probe is halfway (in
  ratio) between ``low`` and ``high``; a failed probe doubles the patience, so a strict account (burst
  1) is probed a few times per run, not once a window. Probing stops when ``high`` is within
  ``CLOSE`` of ``low``.
* **A throttle at or below ``low``** means ``low`` was wrong (another client shares the quota, or a burst
  made a rate look sustainable): ``low`` drops to ``DECREASE`` of the rate (botocore's factor, see
  ``reconciler.pacing``).

botocore's own adaptive retry mode (``CubicCalculator`` in
https://github.com/boto/botocore/blob/develop/botocore/retries/throttling.py) grows with a cubic
function of *seconds*, with constants made for rates of tens a second: at 0.25 a second it probes above
the quota within one interval, so a strict account would throttle most requests. Probing here counts
*answers*, so it behaves the same at 0.25 and at 50 a second.

The spacing is from the previous send (``MARGIN`` longer than the rate's interval); requests are not
reserved ahead, so a waiter sees a changed rate at its next look. Time is passed in: the maths is tested
with a fake clock.
"""

from __future__ import annotations

import math
import threading

from reconciler.pacing import DECREASE, MARGIN

PATIENCE = 4  # answered requests in a row that make a rate hold (doubled after each failed probe)
CLOSE = 1.05  # no probe once the highest throttled rate is within 5 % of the rate that holds
CEILING = 100.0  # never above this many times the starting rate (parallelism bounds it anyway)


class AdaptivePacer:
    """Paces one operation at a rate it learns; see the module docstring. Thread-safe.

    ``claim(now)`` either takes the next send slot (returns ``(0.0, round)``) or says how long until one
    may be free (``(seconds, round)``, nothing taken); ``end(now, round, ...)`` follows each sent request.
    """

    def __init__(self, start: float, *, ceiling: float | None = None, margin: float = MARGIN) -> None:
        if not (start > 0 and margin >= 0):
            raise ValueError("start must be > 0 and margin >= 0")
        self.start = start
        self.rate = start  # the rate requests are sent at now
        self.low = start  # the rate last known (or, at first, assumed) to hold
        self.high = math.inf  # the lowest rate throttled since the last time ``low`` was found wrong
        self.peak = start  # the highest rate reached
        self.throttles = 0  # ThrottlingExceptions seen, each counted
        self.ceiling = ceiling if ceiling is not None else start * CEILING
        self._margin = margin
        self._slow_start = True
        self._probing = False  # the rate is a probe above ``low``
        self._patience = PATIENCE
        self._streak = 0  # answered in a row since the rate last changed
        self._round = 0  # bumped by every decrease: throttles of earlier rounds are not news
        self._last_send = -math.inf
        self._prev_send = -math.inf  # the send before the last one
        self._first_throttle: float | None = None
        self._answered_since_throttle = 0
        self._first_answer: float | None = None
        self._last_answer = -math.inf
        self._answered = 0
        self._lock = threading.RLock()

    @property
    def interval(self) -> float:
        return (1.0 + self._margin) / self.rate

    def claim(self, now: float) -> tuple[float, int]:
        """Take the send slot if it is due at NOW: ``(0.0, round)``; else ``(seconds until due, round)``."""
        with self._lock:
            due = self._last_send + self.interval
            if now < due:
                return due - now, self._round
            self._prev_send, self._last_send = self._last_send, now
            return 0.0, self._round

    def end(self, now: float, sent_round: int, *, throttled: bool = False, answered: bool = True,
            sent_at: float | None = None) -> None:
        """The request claimed in SENT_ROUND (at SENT_AT) is over at NOW: THROTTLED, ANSWERED, or neither
        (a 5xx, a dropped connection: nothing is learned)."""
        with self._lock:
            if throttled:
                self.throttles += 1
                self._first_throttle = now if self._first_throttle is None else self._first_throttle
                if sent_at is not None and sent_at == self._last_send:
                    # a throttled request took no token: space the next one from the send before it
                    self._last_send = self._prev_send
                if sent_round == self._round:
                    self._decrease()
            elif answered:
                self._answered += 1
                self._answered_since_throttle += self._first_throttle is not None
                self._first_answer = now if self._first_answer is None else self._first_answer
                self._last_answer = now
                self._increase()

    def throttled(self, now: float) -> None:
        """The service throttled a request of this operation that was not claimed here: slow down."""
        with self._lock:
            self.end(now, self._round, throttled=True)

    def _decrease(self) -> None:
        self._round += 1
        self._streak = 0
        if self.rate > self.low:  # a probe (or the slow start) went too far: back towards what holds
            if self._probing:
                self._patience *= 2
            self.high = self.rate
            self.rate = max(self.low, self.rate / 2.0)
        else:  # what we thought holds does not
            self.high = self.rate
            self.low = self.rate = max(self.start / CEILING, self.rate * DECREASE)
        self._slow_start = self._probing = False

    def _increase(self) -> None:
        self._streak += 1
        if self._slow_start:
            self._set(self.rate * 2.0)
            return
        if self._streak < self._patience:
            return
        self.low = max(self.low, self.rate)
        self._streak = 0
        if self.high == math.inf:
            self._set(self.rate * 2.0, probe=True)
        elif self.high > self.low * CLOSE:
            self._set(math.sqrt(self.low * self.high), probe=True)

    def _set(self, rate: float, *, probe: bool = False) -> None:
        self._probing = probe
        self.rate = min(self.ceiling, rate)
        self.peak = max(self.peak, self.rate)
        self._streak = 0

    def learned(self) -> float:
        """The rate worth starting the next run at: the rate that holds once throttled, else the rate the
        answers came at (never below the start)."""
        with self._lock:
            if not self._slow_start:
                # what the server admitted since it first refused: its rate, bursts spent (a probe that
                # only held while the server's saved tokens lasted does not count)
                span = self._last_answer - (self._first_throttle or 0.0)
                if self._answered_since_throttle >= PATIENCE and span > 0:
                    return min(self.low, max(self.start / CEILING, self._answered_since_throttle / span))
                return self.low
            span = self._last_answer - (self._first_answer or 0.0)
            achieved = (self._answered - 1) / span if self._answered > 1 and span > 0 else 0.0
            return max(self.start, min(achieved, self.ceiling))
