"""Token-bucket and backoff maths, with a fake clock (no real sleeping, no timing assertions)."""

from __future__ import annotations

import threading

import pytest

from reconciler.ratelimit import DEFAULT_QUOTAS, RateLimiter, RetryPolicy, TokenBucket
from tests.support.awsfakes import FakeClock


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


@pytest.mark.parametrize(
    ("op", "rates", "expected_waits"),
    [
        # burst 1 at 0.25/s: the second update waits 4 s, the third another 4 s
        ("UpdateImageSetMetadata", {}, [0.0, 4.0, 4.0]),
        # an override sets the burst to max(1, tps)
        ("UpdateImageSetMetadata", {"UpdateImageSetMetadata": 2.0}, [0.0, 0.0, 0.5, 0.5]),
        ("UpdateImageSetMetadata", {"UpdateImageSetMetadata": 0.5}, [0.0, 2.0]),
        ("GetImageSet", {"GetImageSet": 1.0}, [0.0, 1.0, 1.0]),
        # an operation with no quota is not limited
        ("SomethingNew", {}, [0.0, 0.0, 0.0]),
        # "*" limits every operation (each on its own bucket); a named operation still wins
        ("GetImageSet", {"*": 1.0}, [0.0, 1.0]),
        ("SomethingNew", {"*": 1.0}, [0.0, 1.0]),
        ("GetImageSet", {"*": 1.0, "GetImageSet": 2.0}, [0.0, 0.0, 0.5]),
    ],
)
def test_waits_follow_rate_and_burst(op: str, rates: dict[str, float], expected_waits: list[float]) -> None:
    clock = FakeClock()
    limiter = RateLimiter(rates, clock=clock, sleep=clock.sleep)
    assert [limiter.acquire(op) for _ in expected_waits] == pytest.approx(expected_waits)


def test_long_run_rate_is_the_quota_after_the_burst() -> None:
    clock = FakeClock()
    limiter = RateLimiter(clock=clock, sleep=clock.sleep)
    for _ in range(150):
        limiter.acquire("GetImageSet")
    # 50 from the burst, then 100 more at 25/s
    assert clock.now == pytest.approx(100 / 25)


def test_idle_time_refills_up_to_the_burst_only() -> None:
    clock = FakeClock()
    bucket = TokenBucket(rate=1.0, burst=2.0, now=clock())
    assert [bucket.reserve(clock()) for _ in range(2)] == [0.0, 0.0]
    clock.now += 100.0
    assert [bucket.reserve(clock()) for _ in range(3)] == [0.0, 0.0, 1.0]


def test_operations_have_separate_buckets() -> None:
    clock = FakeClock()
    limiter = RateLimiter(clock=clock, sleep=clock.sleep)
    assert limiter.acquire("UpdateImageSetMetadata") == 0.0
    assert limiter.acquire("DeleteImageSet") == 0.0
    assert limiter.acquire("UpdateImageSetMetadata") == pytest.approx(4.0)


def test_throttled_drops_the_saved_burst() -> None:
    clock = FakeClock()
    limiter = RateLimiter({"GetImageSet": 10.0}, clock=clock, sleep=clock.sleep)
    assert limiter.acquire("GetImageSet") == 0.0
    limiter.throttled("GetImageSet")
    assert limiter.acquire("GetImageSet") == pytest.approx(0.1)


def test_concurrent_reservations_are_each_handed_out_once() -> None:
    """With a frozen clock, 100 reservations at 1/s from 10 threads must be exactly 0..99 s."""
    frozen = 0.0
    waits: list[float] = []
    lock = threading.Lock()
    limiter = RateLimiter({"GetImageSet": 1.0}, clock=lambda: frozen, sleep=lambda s: None)

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


def test_limiter_rejects_non_positive_override() -> None:
    with pytest.raises(ValueError):
        RateLimiter({"GetImageSet": 0.0})


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
