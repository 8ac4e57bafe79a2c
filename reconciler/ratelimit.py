"""Client-side pacing per HealthImaging operation: one pacer per operation, behind one limiter.

An operation that ``--rate`` sets is paced at that rate (margin, spacing from the answer, AIMD below it:
``reconciler.pacing``); with ``adaptive`` (the client of a real account or endpoint) every other operation
learns its rate from the answers (``reconciler.adaptive``), starting from the rate learned in an earlier
run or the documented quota (``reconciler.quotas``). Retry backoff is ``reconciler.retry``. Clock and
sleep are injectable so the maths is tested with a fake clock.
"""

from __future__ import annotations

import functools
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from reconciler.adaptive import AdaptivePacer
from reconciler.errors import Cancelled
from reconciler.pacing import MARGIN, SLACK, Pacer, TokenBucket
from reconciler.quotas import DEFAULT_QUOTAS, Limit, parse_bursts, parse_limits, parse_rates, rate_of
from reconciler.retry import RetryPolicy

Clock = Callable[[], float]
Sleep = Callable[[float], None]


class Permit:
    """One request's claim on its operation's pacer. Say once how it ended; later calls do nothing."""

    def __init__(self, on_end: Callable[[float, bool, bool], None] | None, clock: Clock, waited: float) -> None:
        self.waited = waited  # seconds slept before the request could be sent
        self._on_end = on_end  # (now, throttled, answered)
        self._clock = clock

    def answered(self) -> None:
        """The request succeeded: the rate may grow."""
        self._end(throttled=False, answered=True)

    def failed(self, *, throttled: bool) -> None:
        """The request ended in an error (the rate stays) or, when THROTTLED, a ThrottlingException
        (the rate drops)."""
        self._end(throttled=throttled, answered=False)

    def _end(self, *, throttled: bool, answered: bool) -> None:
        on_end, self._on_end = self._on_end, None
        if on_end is not None:
            on_end(self._clock(), throttled, answered)


@dataclass(frozen=True)
class Pace:
    """How one operation was paced in a run: where its rate came from (``--rate``, ``learned`` for this
    account, or ``documented``), the rate it started at, the rate it reached (for a learning pacer, the rate
    that held; else the rate at the end), its peak, and the ThrottlingExceptions its pacer was told of."""

    operation: str
    source: str
    start: float
    rate: float
    peak: float
    throttled: int
    learning: bool = False  # the rate is learned from the answers (no --rate for it)


CANCEL_POLL = 0.05  # seconds between looks at a cancel event while waiting to send


class RateLimiter:
    """One ``Pacer`` per operation. ``begin(op)`` blocks until a request may be sent.

    Thread-safe: the planner and the applier call it from a thread pool. RATES override the quotas per
    operation (``*``: every operation, each paced on its own), BURSTS their bursts; an override without
    a burst gets one second's worth of requests, and at least one. Operations with no quota are not
    limited. MARGIN and SLACK are ``reconciler.pacing``'s safety margins (0 in tests of pure maths).

    With ADAPTIVE, an operation that has a quota and no override learns its rate
    (``reconciler.adaptive``), starting from LEARNED (the rate an earlier run learned for the account)
    or else its quota; an override is a cap, paced exactly as without ADAPTIVE.
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
        adaptive: bool = False,
        learned: Mapping[str, float] | Callable[[], Mapping[str, float]] | None = None,
    ) -> None:
        self._clock = clock
        self._sleep = sleep
        self._margin = margin
        self._slack = slack
        self._limits: dict[str, tuple[float, float]] = dict(quotas)
        overrides = dict(rates or {})
        given = dict(bursts or {})
        self._recall = learned if adaptive else None
        self._learned_cache: dict[str, float] | None = None
        self._adaptive = frozenset(op for op in quotas if op not in overrides and "*" not in overrides) \
            if adaptive else frozenset()
        self._overridden = frozenset(overrides)
        self._default: tuple[float, float] | None = None
        if "*" in overrides:  # every operation, each with its own pacer, unless named on its own
            self._default = _limit("*", overrides.pop("*"), given.get("*"))
            self._limits = dict.fromkeys(self._limits, self._default)
        for op, tps in overrides.items():
            self._limits[op] = _limit(op, tps, given.get(op))
        self._pacers: dict[str, Pacer] = {}
        self._learners: dict[str, AdaptivePacer] = {}
        self._lock = threading.Lock()

    def limit(self, op: str) -> tuple[float, float] | None:
        """The configured (rate, burst) for OP, or None when it is not limited."""
        return self._limits.get(op, self._default)

    def rate(self, op: str) -> float | None:
        """The rate OP is paced at now: its configured rate, or less after throttling (a learning
        operation: the rate it sends at now)."""
        pacer = self._pacer(op)
        return pacer.rate if pacer is not None else None

    @property
    def _learned(self) -> dict[str, float]:
        """The rates an earlier run learned (read on first use: for real AWS that may ask STS the account)."""
        if self._learned_cache is None:
            recall = self._recall
            found = recall() if callable(recall) else (recall or {})
            self._learned_cache = {op: r for op, r in found.items() if r > 0}
        return self._learned_cache

    def source(self, op: str) -> str | None:
        """Where OP's rate comes from: ``--rate``, ``learned`` (an earlier run), ``documented``; None:
        not limited."""
        if op in self._adaptive:
            return "learned" if op in self._learned else "documented"
        if self.limit(op) is None:
            return None
        return "--rate" if op in self._overridden or "*" in self._overridden else "documented"

    def starting_rate(self, op: str) -> float | None:
        """The rate OP starts at: learned, else configured."""
        limit = self.limit(op)
        configured = limit[0] if limit is not None else None
        return self._learned.get(op, configured) if op in self._adaptive else configured

    def paces(self) -> tuple[Pace, ...]:
        """How each operation that sent a request was paced (see ``Pace``), by operation name."""
        with self._lock:
            fixed = dict(self._pacers)
            learners = dict(self._learners)
        out = [Pace(op, self.source(op) or "documented", p.start, p.learned(), p.peak, p.throttles, learning=True)
               for op, p in learners.items()]
        out += [Pace(op, self.source(op) or "documented", p.quota, p.rate, p.quota, p.throttles)
                for op, p in fixed.items()]
        return tuple(sorted(out, key=lambda pace: pace.operation))

    def learned_rates(self) -> dict[str, float]:
        """The rate each learning operation that sent requests would start the next run at."""
        with self._lock:
            learners = dict(self._learners)
        return {op: p.learned() for op, p in learners.items()}

    def _learner(self, op: str) -> AdaptivePacer | None:
        if op not in self._adaptive:
            return None
        with self._lock:
            learner = self._learners.get(op)
            if learner is None:
                start = self._learned.get(op) or self._limits[op][0]
                learner = self._learners[op] = AdaptivePacer(start, margin=self._margin)
            return learner

    def _pacer(self, op: str) -> Pacer | AdaptivePacer | None:
        learner = self._learner(op)
        if learner is not None:
            return learner
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
        learner = self._learner(op)
        if learner is not None:
            return self._begin_learning(op, learner, cancel)
        pacer = self._pacers.get(op) or self._pacer(op)
        if pacer is None or isinstance(pacer, AdaptivePacer):
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
        fixed = pacer
        return Permit(lambda now, throttled, answered: fixed.end(now, throttled=throttled, answered=answered),
                      self._clock, wait)

    def _begin_learning(self, op: str, learner: AdaptivePacer, cancel: threading.Event | None) -> Permit:
        """Look at LEARNER until its slot is due (in steps of at most ``CANCEL_POLL``, so a changed rate
        or a stop request is seen), and take it."""
        waited = 0.0
        while True:
            if cancel is not None and cancel.is_set():
                raise Cancelled(f"{op} not sent: the run is stopping")
            now = self._clock()
            wait, sent_round = learner.claim(now)
            if wait <= 0:
                return Permit(functools.partial(_end_learning, learner, sent_round, now), self._clock, waited)
            step = min(wait, CANCEL_POLL)
            self._sleep(step)
            waited += step

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


def _end_learning(learner: AdaptivePacer, sent_round: int, sent_at: float, now: float, throttled: bool,
                  answered: bool) -> None:
    learner.end(now, sent_round, throttled=throttled, answered=answered, sent_at=sent_at)


def _limit(op: str, tps: float, burst: float | None) -> tuple[float, float]:
    if not tps > 0:
        raise ValueError(f"rate for {op} must be > 0")
    if burst is not None and not burst >= 1:
        raise ValueError(f"burst for {op} must be >= 1")
    return (tps, burst if burst is not None else max(1.0, tps))


__all__ = ["DEFAULT_QUOTAS", "Limit", "Pace", "Permit", "RateLimiter", "RetryPolicy", "TokenBucket", "parse_bursts",
           "parse_limits", "parse_rates", "rate_of"]
