"""The learning pacer against simulated accounts, on a fake clock (nothing sleeps; simulated seconds only).

Each simulation plays a client with WORKERS requests in flight at most, a round trip of RTT, and a
server token bucket of (RATE, BURST) that the client is not told about: a request that finds the bucket
empty is throttled and sent again. The ideal is the time a client that knew the quota would take:
(N - BURST) / RATE.
"""

from __future__ import annotations

import heapq
import math
import random
from dataclasses import dataclass

import pytest

from reconciler.adaptive import CEILING, AdaptivePacer
from reconciler.pacing import TokenBucket


@dataclass(frozen=True)
class Outcome:
    seconds: float
    throttled: int
    pacer: AdaptivePacer

    def ratio(self, rate: float, burst: float, count: int) -> float:
        return self.seconds / ((count - burst) / rate)


def simulate(rate: float, burst: float, count: int, *, start: float = 0.25, workers: int = 8, rtt: float = 0.01,
             seed: int = 1, slower_after: float | None = None) -> Outcome:
    """COUNT requests through a fresh pacer starting at START (SLOWER_AFTER: from then on the server
    admits half its rate, as when another client starts sharing the quota)."""
    rng = random.Random(seed)
    now = 0.0
    pacer = AdaptivePacer(start)
    bucket = TokenBucket(rate, burst, 0.0)
    flying: list[tuple[float, int, bool, float]] = []  # (answer time, round, admitted, sent at)
    waiting, done, throttled = count, 0, 0
    while done < count:
        due = math.inf
        if waiting and len(flying) < workers:
            wait, sent_round = pacer.claim(now)
            if wait == 0:
                arrives = now + rng.uniform(0, rtt / 2)
                if slower_after is not None and arrives > slower_after and bucket.rate == rate:
                    bucket.set_rate(rate / 2, arrives)
                heapq.heappush(flying, (arrives + rng.uniform(0, rtt / 2), sent_round, bucket.take(arrives), now))
                waiting -= 1
                continue
            due = now + wait
        if flying and flying[0][0] <= due:
            now, sent_round, admitted, sent_at = heapq.heappop(flying)
            pacer.end(now, sent_round, throttled=not admitted, answered=admitted, sent_at=sent_at)
            done += admitted
            throttled += not admitted
            waiting += not admitted  # sent again
        else:
            now = due
    return Outcome(now, throttled, pacer)


# The goals of the apply benchmark, for the pacer alone (bench_apply measures the whole apply).
@pytest.mark.parametrize(("rate", "burst", "count", "ratio", "throttles"), [
    (10.0, 40, 500, 1.2, 25),  # a raised quota: found from 0.25/s, throttled requests <= 5 % of N
    (0.25, 1, 10, 1.25, 2),  # the documented quota: <= 2 throttled requests
    (0.25, 10, 40, 1.25, None),  # the French page's burst
])
@pytest.mark.parametrize("workers,rtt", [(8, 0.01), (4, 0.2), (32, 0.002)])
def test_an_unknown_account_is_found_from_the_documented_rate(
    rate: float, burst: float, count: int, ratio: float, throttles: int | None, workers: int, rtt: float
) -> None:
    out = simulate(rate, burst, count, workers=workers, rtt=rtt)
    assert out.ratio(rate, burst, count) <= ratio
    assert throttles is None or out.throttled <= throttles
    assert rate * 0.85 <= out.pacer.learned() <= rate * 1.01  # what the next run starts at


@pytest.mark.parametrize(("rate", "burst", "count"), [(10.0, 40, 500), (0.25, 1, 10), (0.25, 10, 40)])
def test_a_second_run_starts_from_the_learned_rate(rate: float, burst: float, count: int) -> None:
    first = simulate(rate, burst, count)
    second = simulate(rate, burst, count, start=first.pacer.learned(), seed=2)
    assert second.ratio(rate, burst, count) <= 1.1


def test_the_slow_start_spends_the_burst_at_once() -> None:
    out = simulate(10.0, 40, 60)  # 40 saved tokens: a client that knew would send them at once
    assert out.seconds <= 8.0  # 20 more at 10/s is 2 s; from 0.25/s, about 4 s to find the rate
    assert out.pacer.peak > 10.0


def test_recovery_after_the_account_slows_down() -> None:
    """Another client starts sharing the quota: what held no longer does; the rate comes down to the
    new share and what is learned is that share."""
    out = simulate(10.0, 10, 600, slower_after=20.0)
    assert 5.0 * 0.85 <= out.pacer.learned() <= 5.0 * 1.05
    assert out.throttled <= 40


def test_throttles_of_an_earlier_round_are_not_news() -> None:
    """Requests sent before a decrease and throttled after it do not decrease the rate again."""
    pacer = AdaptivePacer(8.0, margin=0.0)
    _, first_round = pacer.claim(0.0)
    pacer.end(0.1, first_round, throttled=True, answered=False)
    after_one = pacer.rate
    for _ in range(5):
        pacer.end(0.2, first_round, throttled=True, answered=False)
    assert pacer.rate == after_one == pytest.approx(8.0 * 0.7)  # the start was wrong: one decrease
    assert pacer.throttles == 6


def test_each_fresh_throttle_at_the_rate_that_held_lowers_it() -> None:
    pacer = AdaptivePacer(8.0, margin=0.0)
    for n in range(3):
        _, sent_round = pacer.claim(float(n))
        pacer.end(float(n), sent_round, throttled=True, answered=False)
    assert pacer.low == pacer.rate == pytest.approx(8.0 * 0.7**3)
    assert pacer.high == pytest.approx(8.0 * 0.7**2)


def test_spacing_follows_the_rate_and_a_throttled_send_takes_no_slot() -> None:
    pacer = AdaptivePacer(0.25, margin=0.0)
    assert pacer.claim(0.0) == (0.0, 0)
    assert pacer.claim(1.0) == (3.0, 0)  # 4 s apart at 0.25/s
    pacer.end(1.0, 0, answered=True, sent_at=0.0)  # slow start: 0.5/s
    assert pacer.claim(1.0) == (1.0, 0)
    assert pacer.claim(2.0) == (0.0, 0)
    pacer.end(2.1, 0, throttled=True, answered=False, sent_at=2.0)
    assert pacer.rate == 0.25
    assert pacer.claim(2.1) == (pytest.approx(1.9), 1)  # 4 s after the send that was admitted


def test_the_rate_never_passes_its_ceiling() -> None:
    pacer = AdaptivePacer(1.0)
    for n in range(100):
        pacer.end(float(n), 0, answered=True)
    assert pacer.rate == pacer.peak == CEILING * 1.0


def test_without_throttles_the_learned_rate_is_the_rate_answers_came_at() -> None:
    pacer = AdaptivePacer(0.25)
    for n in range(11):
        pacer.end(n * 0.5, 0, answered=True)  # 2 a second
    assert pacer.learned() == pytest.approx(2.0)
    slow = AdaptivePacer(0.25)
    for n in range(3):
        slow.end(n * 10.0, 0, answered=True)
    assert slow.learned() == 0.25  # never below the start


@pytest.mark.parametrize("start,margin", [(0.0, 0.03), (-1.0, 0.03), (1.0, -0.1)])
def test_bad_parameters_are_refused(start: float, margin: float) -> None:
    with pytest.raises(ValueError):
        AdaptivePacer(start, margin=margin)
