"""The waiter: backoff shape, bounded total wait, and which version's status it reports."""

from __future__ import annotations

import pytest

from reconciler.apply.waiter import WaitPolicy, WaitTimeout, wait_until_settled
from tests.support.applyfakes import DS, A, FakeAPI, base_doc


def test_intervals_grow_by_the_factor_up_to_the_cap() -> None:
    step = WaitPolicy(initial=1.0, factor=2.0, max_interval=5.0).intervals()
    assert [step() for _ in range(5)] == [1.0, 2.0, 4.0, 5.0, 5.0]


def test_polls_until_active_with_backoff_sleeps() -> None:
    api = FakeAPI(lock_polls=3)
    api.add(A, base_doc())
    api.update_image_set_metadata(DS, A, "1", updatable=b'{"Patient":{"DICOM":{"PatientID":"2"}}}')
    slept: list[float] = []
    info = wait_until_settled(api, DS, A, "2", WaitPolicy(initial=0.1, factor=2.0), sleep=slept.append)
    assert (info.state, info.version_id, info.workflow_status) == ("ACTIVE", "2", "UPDATED")
    assert slept == pytest.approx([0.1, 0.2, 0.4])


def test_reports_its_own_version_when_someone_wrote_after_it() -> None:
    api = FakeAPI(lock_polls=0, update_failed={A})
    api.add(A, base_doc())
    api.update_image_set_metadata(DS, A, "1", updatable=b"{}")
    api.outside_write(A, {})
    info = wait_until_settled(api, DS, A, "2", WaitPolicy())
    assert (info.version_id, info.workflow_status) == ("2", "UPDATE_FAILED")


def test_gives_up_after_the_timeout() -> None:
    api = FakeAPI(lock_polls=1000)
    api.add(A, base_doc())
    api.update_image_set_metadata(DS, A, "1", updatable=b"{}")
    now = [0.0]

    def sleep(seconds: float) -> None:
        now[0] += seconds

    with pytest.raises(WaitTimeout, match=f"image set {A} still LOCKED after 2 s"):
        wait_until_settled(api, DS, A, "2", WaitPolicy(initial=0.5, timeout=2.0), sleep=sleep, clock=lambda: now[0])
    assert now[0] == pytest.approx(2.0)
