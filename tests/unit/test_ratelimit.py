"""Token-bucket and backoff maths, with a fake clock (no real sleeping, no timing assertions)."""

from __future__ import annotations

import threading
from typing import Any

import pytest
from awsfakes import FakeClock

from reconciler.pacing import DECREASE
from reconciler.ratelimit import DEFAULT_QUOTAS, RateLimiter, RetryPolicy, TokenBucket


@pytest.mark.parametrize(
    ("op", "rate", "burst"),
    [
        ("GetImageSetMetadata", 50, 100),
        ("GetImageSet", 25, 50),
        ("SearchImageSets", 25, 50),
        ("ListImageSetVersions", 25, 50),
        ("UpdateImageSetMetadata", 0.25, 1),
        ("DeleteImageSet", 0.25, 1),
        ("GetDatastore", 10, 20),
        ("ListDatastores", 5, 10),
        ("CreateDatastore", 0.085, 1),
    ],
)
def test_defaults_are_the_documented_quotas(op: str, rate: float, burst: float) -> None:
    assert DEFAULT_QUOTAS[op] == (rate, burst)
    assert RateLimiter().limit(op) == (rate, burst)


def exact(rates: dict[str, float] | None = None, **kwargs: Any) -> tuple[RateLimiter, FakeClock]:
    """A limiter on a fake clock with no safety margin, so its waits are the bucket maths alone."""
    clock = FakeClock()
    return RateLimiter(rates, clock=clock, sleep=clock.sleep, margin=0.0, slack=0.0, **kwargs), clock


@pytest.mark.parametrize(
    ("op", "rates", "expected_waits"),
    [
        # burst 1 at 0.25/s: the second update waits 4 s, the third another 4 s
        ("UpdateImageSetMetadata", {}, [0.0, 4.0, 4.0]),
        # an override's burst is max(1, tps); the client spends all of it but one token, kept in reserve
        ("UpdateImageSetMetadata", {"UpdateImageSetMetadata": 3.0}, [0.0, 0.0, 1 / 3, 1 / 3]),
        ("UpdateImageSetMetadata", {"UpdateImageSetMetadata": 0.5}, [0.0, 2.0]),
        ("GetImageSet", {"GetImageSet": 1.0}, [0.0, 1.0, 1.0]),
        # an operation with no quota is not limited
        ("SomethingNew", {}, [0.0, 0.0, 0.0]),
        # "*" limits every operation (each on its own pacer); a named operation still wins
        ("GetImageSet", {"*": 1.0}, [0.0, 1.0]),
        ("SomethingNew", {"*": 1.0}, [0.0, 1.0]),
        ("GetImageSet", {"*": 1.0, "GetImageSet": 3.0}, [0.0, 0.0, 1 / 3]),
    ],
)
def test_waits_follow_rate_and_burst(op: str, rates: dict[str, float], expected_waits: list[float]) -> None:
    limiter, _ = exact(rates)
    assert [limiter.acquire(op) for _ in expected_waits] == pytest.approx(expected_waits)


@pytest.mark.parametrize(
    ("rates", "bursts", "expected"),
    [
        ({"GetImageSet": 5.0}, {"GetImageSet": 1.0}, (5.0, 1.0)),
        ({"GetImageSet": 5.0}, {}, (5.0, 5.0)),
        ({"*": 5.0}, {"*": 2.0}, (5.0, 2.0)),
        ({"*": 5.0, "GetImageSet": 3.0}, {"*": 2.0}, (3.0, 3.0)),  # a burst belongs to its own option
    ],
)
def test_bursts_override_the_default_burst(
    rates: dict[str, float], bursts: dict[str, float], expected: tuple[float, float]
) -> None:
    assert RateLimiter(rates, bursts=bursts).limit("GetImageSet") == expected


def test_a_burst_of_one_makes_a_fast_override_strict() -> None:
    limiter, _ = exact({"GetImageSet": 5.0}, bursts={"GetImageSet": 1.0})
    assert [limiter.acquire("GetImageSet") for _ in range(3)] == pytest.approx([0.0, 0.2, 0.2])


def test_long_run_rate_is_the_quota_after_the_burst() -> None:
    limiter, clock = exact()
    for _ in range(150):
        limiter.acquire("GetImageSet")
    # 49 from the burst of 50 (one token stays in reserve), then 101 more at 25/s
    assert clock.now == pytest.approx(101 / 25)


def test_the_margin_lengthens_every_interval() -> None:
    clock = FakeClock()
    limiter = RateLimiter(clock=clock, sleep=clock.sleep, margin=0.05, slack=0.01)
    waits = [limiter.acquire("UpdateImageSetMetadata") for _ in range(3)]
    assert waits == pytest.approx([0.0, 4 * 1.05 + 0.01, 4 * 1.05 + 0.01])
    for _ in range(200):
        limiter.acquire("GetImageSet")
    assert limiter.rate("GetImageSet") == 25.0  # the margin is not a throttle: the rate stays the quota


def test_operations_have_separate_pacers() -> None:
    limiter, _ = exact()
    assert limiter.acquire("UpdateImageSetMetadata") == 0.0
    assert limiter.acquire("DeleteImageSet") == 0.0
    assert limiter.acquire("UpdateImageSetMetadata") == pytest.approx(4.0)


def test_throttled_drops_the_saved_burst_and_lowers_the_rate() -> None:
    limiter, _ = exact({"GetImageSet": 10.0})
    assert limiter.acquire("GetImageSet") == 0.0
    limiter.throttled("GetImageSet")
    assert limiter.rate("GetImageSet") == 10.0 * DECREASE
    assert limiter.acquire("GetImageSet") == pytest.approx(1 / (10.0 * DECREASE))


def test_concurrent_reservations_are_each_handed_out_once() -> None:
    """With a frozen clock, 100 reservations at 1/s from 10 threads must be exactly 0..99 s."""
    frozen = 0.0
    waits: list[float] = []
    lock = threading.Lock()
    limiter = RateLimiter({"GetImageSet": 1.0}, clock=lambda: frozen, sleep=lambda s: None, margin=0.0,
                          slack=0.0)

    def worker() -> None:
        for _ in range(10):
            wait = limiter.acquire("GetImageSet")
            with lock:
                waits.append(wait)

    threads = [threading.Thread(target=worker) for _ in range(10)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(round(w) for w in waits) == list(range(100))


@pytest.mark.parametrize(("rate", "burst"), [(0.0, 1.0), (-1.0, 1.0), (1.0, 0.5)])
def test_bucket_rejects_nonsense(rate: float, burst: float) -> None:
    with pytest.raises(ValueError):
        TokenBucket(rate, burst, now=0.0)


@pytest.mark.parametrize(("rates", "bursts"), [
    ({"GetImageSet": 0.0}, {}), ({"GetImageSet": 1.0}, {"GetImageSet": 0.5})])
def test_limiter_rejects_nonsense_overrides(rates: dict[str, float], bursts: dict[str, float]) -> None:
    with pytest.raises(ValueError):
        RateLimiter(rates, bursts=bursts)


@pytest.mark.parametrize(
    ("retry", "expected_ceiling"),
    [(1, 0.25), (2, 0.5), (3, 1.0), (4, 2.0), (10, 20.0)],  # doubles, then capped
)
def test_backoff_ceiling_doubles_and_is_capped(retry: int, expected_ceiling: float) -> None:
    policy = RetryPolicy(base=0.25, cap=20.0)
    assert policy.backoff(retry, rand=lambda: 1.0) == pytest.approx(expected_ceiling)
    assert policy.backoff(retry, rand=lambda: 0.0) == 0.0  # full jitter: anywhere from zero


@pytest.mark.parametrize(
    ("attempts", "elapsed", "expected"),
    [
        (1, 0.0, 0.5),
        (2, 0.0, 1.0),
        (3, 0.0, None),  # attempts exhausted
        (1, 9.8, None),  # the next sleep would pass the total budget
        (1, 9.5, 0.5),
    ],
)
def test_next_delay_is_bounded(attempts: int, elapsed: float, expected: float | None) -> None:
    policy = RetryPolicy(max_attempts=3, base=0.5, cap=8.0, max_total=10.0)
    assert policy.next_delay(attempts, elapsed, rand=lambda: 1.0) == expected


def test_retry_policy_needs_one_attempt() -> None:
    with pytest.raises(ValueError):
        RetryPolicy(max_attempts=0)
