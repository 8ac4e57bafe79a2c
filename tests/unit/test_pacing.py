"""The pacer against a simulated server bucket, with fake clocks (no real sleeping, no timing assertions).

Each simulation replays what the HTTP path does: the client asks its pacer for a slot and sends; the
request reaches the server's token bucket after a random delay, and the answer comes back after another.
The server's clock may also run a little fast. A request that finds the server's bucket empty is a
ThrottlingException.
"""

from __future__ import annotations

import random
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

import pytest

from reconciler.pacing import DECREASE, FLOOR, MARGIN, Pacer, TokenBucket
from reconciler.ratelimit import RateLimiter


@dataclass
class Clock:
    now: float = 0.0
    sleeps: list[float] = field(default_factory=list)

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


@dataclass(frozen=True)
class Server:
    """A server bucket whose clock runs SKEW faster than the client's, reached after up to JITTER s."""

    rate: float
    burst: float
    jitter: float
    skew: float = 0.0

    def bucket(self) -> TokenBucket:
        return TokenBucket(self.rate, self.burst, now=0.0)

    def at(self, client_time: float) -> float:
        return client_time * (1.0 + self.skew)


class End(Protocol):
    def __call__(self, now: float, *, throttled: bool) -> None: ...


def strict_run(server: Server, pacer_begin: Callable[[], float], pacer_end: End, clock: Clock, count: int,
               seed: int) -> int:
    """COUNT requests, one at a time (a strict pacer has one in flight); returns the throttles."""
    rng = random.Random(seed)
    bucket = server.bucket()
    throttles = 0
    for _ in range(count):
        clock.sleep(pacer_begin())
        arrives = clock.now + rng.uniform(0.0, server.jitter)
        admitted = bucket.take(server.at(arrives))
        throttles += not admitted
        clock.now = arrives + rng.uniform(0.0, server.jitter)  # the answer
        pacer_end(clock.now, throttled=not admitted)
    return throttles


SERVERS = [
    Server(rate=1.0, burst=1, jitter=0.05),
    Server(rate=0.25, burst=1, jitter=0.5),
    Server(rate=5.0, burst=1, jitter=0.1, skew=0.01),  # jitter of half an interval, a 1 % fast clock
    Server(rate=50.0, burst=1, jitter=0.2),  # jitter of ten intervals
]


@pytest.mark.parametrize("server", SERVERS, ids=lambda s: f"{s.rate:g}tps-jitter{s.jitter:g}-skew{s.skew:g}")
@pytest.mark.parametrize("seed", range(5))
def test_a_strict_pacer_never_exceeds_a_burst_one_server(server: Server, seed: int) -> None:
    clock = Clock()
    pacer = Pacer(server.rate, 1, clock)
    assert strict_run(server, pacer.begin, pacer.end, clock, 300, seed) == 0
    assert pacer.rate == server.rate  # never throttled, so never slowed down


def test_pacing_at_exactly_the_quota_from_the_send_does_throttle() -> None:
    """The simulation can fail: a bare bucket at the quota (the client before this pacer) is refused."""
    server = Server(rate=1.0, burst=1, jitter=0.05)
    clock = Clock()
    bare = TokenBucket(server.rate, 1, now=0.0)

    def ignore(now: float, *, throttled: bool) -> None:
        pass

    throttles = strict_run(server, lambda: bare.reserve(clock.now), ignore, clock, 300, 0)
    assert throttles > 10


@pytest.mark.parametrize("seed", range(5))
def test_a_bursty_pacer_keeps_a_token_in_reserve_for_jitter(seed: int) -> None:
    """Many workers: each request is sent as soon as the pacer allows, and arrives up to one interval
    late; the server admits in arrival order."""
    server = Server(rate=25.0, burst=50, jitter=1 / 25)
    rng = random.Random(seed)
    clock = Clock()
    pacer = Pacer(server.rate, server.burst, clock)
    arrivals = []
    for _ in range(500):
        clock.sleep(pacer.begin())
        arrivals.append(clock.now + rng.uniform(0.0, server.jitter))
    bucket = server.bucket()
    assert all(bucket.take(server.at(t)) for t in sorted(arrivals))


def test_without_the_reserve_token_the_same_jitter_throttles() -> None:
    server = Server(rate=25.0, burst=50, jitter=1 / 25)
    rng = random.Random(0)
    clock = Clock()
    bare = TokenBucket(server.rate, server.burst, now=0.0)
    arrivals = []
    for _ in range(500):
        clock.sleep(bare.reserve(clock.now))
        arrivals.append(clock.now + rng.uniform(0.0, server.jitter))
    bucket = server.bucket()
    assert not all(bucket.take(server.at(t)) for t in sorted(arrivals))


def test_a_strict_pacer_spaces_from_the_answer() -> None:
    clock = Clock()
    pacer = Pacer(1.0, 1, clock, margin=0.0, slack=0.0)
    assert pacer.begin() == 0.0
    clock.now = 0.3  # the answer took 0.3 s: the server may have admitted the request just now
    pacer.end(clock.now)
    assert pacer.begin() == pytest.approx(1.0)  # sent at 1.3: one interval after the answer


def test_a_strict_interval_has_the_margin_and_the_slack() -> None:
    pacer = Pacer(0.25, 1, Clock(), margin=0.03, slack=0.005)
    assert pacer.interval == pytest.approx(4 * 1.03 + 0.005)
    assert Pacer(0.25, 2, Clock(), margin=0.03, slack=0.005).interval == pytest.approx(4 * 1.03)


def test_a_throttle_cuts_the_rate_and_answers_grow_it_back_to_the_quota() -> None:
    clock = Clock()
    pacer = Pacer(1.0, 1, clock, margin=0.0, slack=0.0)
    pacer.begin()
    pacer.end(clock.now, throttled=True)
    assert pacer.rate == DECREASE
    assert pacer.begin() == pytest.approx(1 / DECREASE)  # the next request waits the slower interval
    pacer.end(clock.now)
    rates = []
    for _ in range(15):
        clock.sleep(pacer.begin())
        pacer.end(clock.now)
        rates.append(pacer.rate)
    assert rates == sorted(rates) and rates[0] > DECREASE
    assert rates[-1] == 1.0  # back to the quota, never above


def test_repeated_throttles_stop_at_the_floor() -> None:
    clock = Clock()
    pacer = Pacer(0.25, 1, clock)
    for _ in range(20):
        pacer.begin()
        pacer.end(clock.now, throttled=True)
    assert pacer.rate == pytest.approx(0.25 * FLOOR)


def test_failures_that_are_not_throttles_keep_the_rate() -> None:
    clock = Clock()
    pacer = Pacer(1.0, 1, clock)
    pacer.begin()
    pacer.end(clock.now, throttled=True)
    pacer.begin()
    pacer.end(clock.now, answered=False)
    assert pacer.rate == DECREASE


def test_a_throttle_slows_a_bursty_pacer_too() -> None:
    clock = Clock()
    pacer = Pacer(10.0, 20, clock, margin=0.0)
    pacer.begin()
    pacer.end(clock.now, throttled=True)
    assert pacer.rate == 10.0 * DECREASE
    assert pacer.begin() == pytest.approx(1 / (10.0 * DECREASE))  # the saved burst is gone, the interval longer


def test_a_strict_pacer_has_one_request_in_flight() -> None:
    """A second thread's begin() returns only after the first request ended."""
    clock = Clock()
    pacer = Pacer(1.0, 1, clock, margin=MARGIN)
    pacer.begin()
    order: list[str] = []

    # the second thread either waits on the pacer's condition or begins at once (wrongly): whichever it
    # does, the test learns it by an event, not by giving it a while to go wrong
    settled = threading.Event()

    class Watched(threading.Condition):
        def wait(self, timeout: float | None = None) -> bool:
            settled.set()
            return super().wait(timeout)

    pacer._cond = Watched()

    def begin_second() -> None:
        pacer.begin()
        order.append("second began")
        settled.set()

    second = threading.Thread(target=begin_second, daemon=True)
    second.start()
    assert settled.wait(timeout=60)  # a hang guard
    order.append("first ended")
    pacer.end(clock.now)
    second.join(timeout=60)
    assert order == ["first ended", "second began"]


def test_an_interrupted_wait_frees_the_strict_slot() -> None:
    clock = Clock()
    interrupts = [KeyboardInterrupt()]

    def sleep(seconds: float) -> None:
        if interrupts:
            raise interrupts.pop()
        clock.sleep(seconds)

    limiter = RateLimiter(clock=clock, sleep=sleep)
    limiter.begin("UpdateImageSetMetadata").answered()
    with pytest.raises(KeyboardInterrupt):
        limiter.begin("UpdateImageSetMetadata")  # waits about 4 s, interrupted
    done = threading.Event()  # in a thread, so that a slot left taken fails the test instead of hanging it

    def begin_again() -> None:
        limiter.begin("UpdateImageSetMetadata")
        done.set()

    threading.Thread(target=begin_again, daemon=True).start()
    assert done.wait(timeout=10)


@pytest.mark.parametrize(("rate", "burst", "margin", "slack"), [(0, 1, 0, 0), (1, 0.5, 0, 0), (1, 1, -0.1, 0),
                                                                 (1, 1, 0, -1)])
def test_pacer_rejects_nonsense(rate: float, burst: float, margin: float, slack: float) -> None:
    with pytest.raises(ValueError):
        Pacer(rate, burst, Clock(), margin=margin, slack=slack)
