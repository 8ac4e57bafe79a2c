"""The client learns each operation's rate (no --rate), and --rate caps it exactly as before: the limiter
on a fake clock, then a real boto3 client against the in-process emulator enforcing an account's quota
on the same fake clock (no socket, nothing sleeps)."""

from __future__ import annotations

from pathlib import Path

import pytest

from reconciler.client.healthimaging import HealthImaging
from reconciler.emulator.knobs import EmulatorConfig
from reconciler.ratelimit import CANCEL_POLL, RateLimiter
from tests.support.applyenv import seed
from tests.support.awsfakes import FakeClock
from tests.support.backends import make_local_client

UPDATE, GET = "UpdateImageSetMetadata", "GetImageSet"


def learning(rates: dict[str, float] | None = None, learned: dict[str, float] | None = None,
             ) -> tuple[RateLimiter, FakeClock]:
    clock = FakeClock()
    return RateLimiter(rates, clock=clock, sleep=clock.sleep, adaptive=True, learned=learned), clock


def test_without_rate_an_operation_starts_at_its_quota_and_rises_while_answered() -> None:
    limiter, _ = learning()
    assert (limiter.source(UPDATE), limiter.starting_rate(UPDATE)) == ("documented", 0.25)
    for _ in range(3):
        limiter.begin(UPDATE).answered()
    assert (limiter.rate(UPDATE) or 0) > 0.25


def test_a_learned_rate_is_the_start() -> None:
    limiter, clock = learning(learned={UPDATE: 5.0})
    assert (limiter.source(UPDATE), limiter.starting_rate(UPDATE)) == ("learned", 5.0)
    assert (limiter.source(GET), limiter.starting_rate(GET)) == ("documented", 25.0)
    limiter.begin(UPDATE).failed(throttled=False)  # an error that teaches nothing: the rate stays
    limiter.begin(UPDATE)
    assert clock.now == pytest.approx(1.03 / 5.0)  # spaced at the learned rate, margin included
    assert all(step <= CANCEL_POLL for step in clock.sleeps)  # looked at in short steps: a new rate is seen


def test_rate_caps_an_operation_exactly_as_without_learning() -> None:
    """With --rate the operation is paced as it always was: the same waits, never above the cap."""
    capped, _ = learning({UPDATE: 2.0})
    plain_clock = FakeClock()
    plain = RateLimiter({UPDATE: 2.0}, clock=plain_clock, sleep=plain_clock.sleep)
    assert capped.source(UPDATE) == "--rate"
    assert [capped.acquire(UPDATE) for _ in range(40)] == [plain.acquire(UPDATE) for _ in range(40)]
    assert capped.rate(UPDATE) == 2.0
    assert capped.paces()[0].learning is False


def test_a_star_rate_caps_every_operation() -> None:
    limiter, _ = learning({"*": 3.0})
    assert {limiter.source(op) for op in (UPDATE, GET, "GetImageSetMetadata")} == {"--rate"}


def test_a_local_store_is_not_paced_unless_asked() -> None:
    clock = FakeClock()
    limiter = RateLimiter({}, quotas={}, clock=clock, sleep=clock.sleep)
    assert [limiter.acquire(UPDATE) for _ in range(5)] == [0.0] * 5
    assert limiter.source(UPDATE) is None and limiter.paces() == ()
    asked = RateLimiter({UPDATE: 0.25}, bursts={UPDATE: 1}, quotas={}, clock=clock, sleep=clock.sleep)
    assert asked.limit(UPDATE) == (0.25, 1)


def test_paces_say_where_each_rate_came_from_and_what_it_reached() -> None:
    limiter, _ = learning({GET: 10.0}, learned={UPDATE: 2.0})
    limiter.begin(UPDATE).answered()
    limiter.begin(UPDATE).failed(throttled=True)
    limiter.begin(GET).answered()
    paces = {p.operation: p for p in limiter.paces()}
    assert set(paces) == {UPDATE, GET}
    assert (paces[UPDATE].source, paces[UPDATE].start, paces[UPDATE].throttled, paces[UPDATE].learning) == (
        "learned", 2.0, 1, True)
    assert paces[UPDATE].peak == 4.0  # doubled by the answer, then the throttle ended the slow start
    assert (paces[GET].source, paces[GET].rate, paces[GET].learning) == ("--rate", 10.0, False)
    assert limiter.learned_rates() == {UPDATE: 2.0}


@pytest.mark.parametrize(("rate", "burst", "count", "ratio", "throttles"), [
    (10.0, 40, 500, 1.2, 25),  # the goals for a raised quota and the documented one
    (0.25, 1, 10, 1.25, 2),
])
def test_a_real_client_learns_an_account_the_in_process_emulator_enforces(
    tmp_path: Path, rate: float, burst: float, count: int, ratio: float, throttles: int
) -> None:
    """GetImageSet against an in-process emulator that enforces RATE/BURST for it, on one fake clock."""
    ds, ids = seed(tmp_path / "store", 1)
    clock = FakeClock()
    config = EmulatorConfig(rates={GET: rate}, bursts={GET: burst})
    client = make_local_client(str(tmp_path / "store"), config, rate_clock=clock)
    limiter = RateLimiter(clock=clock, sleep=clock.sleep, adaptive=True, learned={GET: 0.25})
    api = HealthImaging(client, limiter=limiter, clock=clock, sleep=clock.sleep, rand=lambda: 0.5)
    for _ in range(count):
        api.get_image_set(ds, ids[0])
    assert clock.now <= ratio * (count - burst) / rate
    assert api.stats.throttled().get(GET, 0) <= throttles
    assert rate * 0.85 <= limiter.learned_rates()[GET] <= rate * 1.01


def test_the_waits_after_a_write_share_the_read_budget(tmp_path: Path) -> None:
    """The GetImageSet polls after an update are paced by GetImageSet's learning pacer, as every read is."""
    from reconciler.apply.waiter import WaitPolicy, wait_until_settled

    ds, ids = seed(tmp_path / "store", 1)
    clock = FakeClock()
    limiter = RateLimiter(clock=clock, sleep=clock.sleep, adaptive=True, learned={UPDATE: 100.0})
    api = HealthImaging(make_local_client(str(tmp_path / "store")), limiter=limiter, clock=clock, sleep=clock.sleep)
    version = api.get_image_set(ds, ids[0]).version_id
    reads = api.stats[GET]
    result = api.update_image_set_metadata(ds, ids[0], version, updatable=b'{"SchemaVersion": "1.1", "Study": '
                                           b'{"DICOM": {"StudyDescription": "X"}}}')
    wait_until_settled(api, ds, ids[0], result.latest_version_id, WaitPolicy(), sleep=clock.sleep, clock=clock)
    assert api.stats[GET] > reads  # it polled
    paces = {p.operation: p for p in api.pacing()}
    assert paces[GET].learning and paces[GET].source == "documented"
    assert limiter.learned_rates()[GET] >= 25.0  # one budget: the reads before and the polls after the write
