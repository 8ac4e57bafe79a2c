"""A stop request reaches the client: an update waiting for its rate-limiter token is not sent.

The limiter with a fake clock, and the real boto3 client on a scripted transport (tests/unit/awsfakes.py).
"""

from __future__ import annotations

import threading

import pytest

from reconciler.errors import Cancelled
from reconciler.pacing import MARGIN, SLACK
from reconciler.ratelimit import RateLimiter
from tests.support.awsfakes import DS, IS, Answer, FakeClock, error, make_api

OP = "UpdateImageSetMetadata"  # 0.25/s, burst 1: the next request waits one interval after the answer
INTERVAL = (1 + MARGIN) / 0.25 + SLACK


def test_a_set_cancel_takes_no_token() -> None:
    clock = FakeClock()
    limiter = RateLimiter(clock=clock, sleep=clock.sleep)
    stop = threading.Event()
    stop.set()
    with pytest.raises(Cancelled):
        limiter.begin(OP, stop)
    assert limiter.acquire(OP) == 0.0  # the first slot is still free
    assert clock.sleeps == []


def test_a_wait_for_a_token_ends_when_cancel_is_set() -> None:
    clock = FakeClock()
    stop = threading.Event()

    def sleep(seconds: float) -> None:
        clock.sleep(seconds)
        if clock.now >= 1.0:  # a signal one second into the 4 s wait
            stop.set()

    limiter = RateLimiter(clock=clock, sleep=sleep)
    limiter.begin(OP, stop).answered()
    with pytest.raises(Cancelled):
        limiter.begin(OP, stop)
    assert 1.0 <= clock.now < 1.1  # not the whole 4 s
    # the cancelled wait gave its slot back: the next request does not wait forever for it
    after = threading.Thread(target=limiter.acquire, args=(OP,), daemon=True)
    after.start()
    after.join(timeout=10)
    assert not after.is_alive()


def test_without_a_stop_the_wait_with_a_cancel_event_is_the_same_wait() -> None:
    clock = FakeClock()
    limiter = RateLimiter(clock=clock, sleep=clock.sleep)
    stop = threading.Event()
    waits = []
    for _ in range(3):
        permit = limiter.begin(OP, stop)
        permit.answered()
        waits.append(permit.waited)
    assert waits == pytest.approx([0.0, INTERVAL, INTERVAL])
    assert clock.now == pytest.approx(2 * INTERVAL)


def test_the_client_sends_no_update_once_stopped() -> None:
    api, transport, _ = make_api([Answer(body={"latestVersionId": "2"})])
    stop = threading.Event()
    stop.set()
    with pytest.raises(Cancelled):
        api.update_image_set_metadata(DS, IS, "1", updatable=b"{}", cancel=stop)
    assert transport.requests == [] and api.stats["UpdateImageSetMetadata"] == 0


def test_a_retry_of_a_sent_update_is_not_cancelled() -> None:
    """The first attempt went out (throttled): its retry belongs to the request in flight."""
    api, transport, _ = make_api([
        error("ThrottlingException", 429),
        Answer(body={"datastoreId": DS, "imageSetId": IS, "latestVersionId": "2", "imageSetState": "LOCKED"}),
    ])
    stop = threading.Event()
    real_sleep = api._caller._sleep  # the call loop's injected sleep

    def sleep_then_stop(seconds: float) -> None:  # the signal comes during the retry's backoff
        stop.set()
        real_sleep(seconds)

    api._caller._sleep = sleep_then_stop  # type: ignore[method-assign]
    assert api.update_image_set_metadata(DS, IS, "1", updatable=b"{}", cancel=stop).latest_version_id == "2"
    assert len(transport.requests) == 2
