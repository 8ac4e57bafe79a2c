"""The guarded executor against an in-memory API: guards, staleness, async failures, verification."""

from __future__ import annotations

import json
import signal
import threading
from pathlib import Path

import pytest

from reconciler.api import UpdateResult
from reconciler.apply.cancel import Cancellation
from reconciler.apply.executor import ApplyOptions, Executor
from reconciler.apply.journal import Journal, read_journal
from reconciler.apply.waiter import WaitPolicy
from reconciler.errors import ServiceError, Throttled
from reconciler.plan.model import ImageSetPlan, UpdateRequest
from tests.support.applyfakes import (
    DS,
    PHI,
    A,
    B,
    C,
    FakeAPI,
    base_doc,
    blob,
    plan_of,
    rename_request,
    three_sets,
    update_plan,
)

FAST = ApplyOptions(parallelism=4, wait=WaitPolicy(initial=0.0, timeout=300.0))  # the bound: a hang guard


def run(api: FakeAPI, journal: Journal, *sets: ImageSetPlan, options: ApplyOptions = FAST):
    return Executor(api, journal, options=options, sleep=lambda _s: None).run(plan_of(*sets))


def statuses(report) -> dict[str, str]:
    return {r.image_set_id: r.status for r in report.results}


def test_converged_image_set_is_verified_and_reports_versions(api: FakeAPI, journal: Journal) -> None:
    report = run(api, journal, update_plan(A))
    (result,) = report.results
    assert (result.status, result.planned_version, result.final_version) == ("converged", "1", "2")
    assert api.latest(A)["Patient"]["DICOM"]["PatientName"] == PHI
    assert ("GetImageSetMetadata", A, "2") in api.calls
    assert report.exit_code == 0


def test_chained_requests_are_guarded_by_the_version_each_previous_one_produced(
    api: FakeAPI, journal: Journal
) -> None:
    second = UpdateRequest(None, blob({"Study": {"DICOM": {"StudyDescription": "CHEST "}}}), False)
    report = run(api, journal, update_plan(A, rename_request(), second))
    guards = [g for op, _i, g in api.calls if op == "UpdateImageSetMetadata"]
    assert guards == ["1", "2"]
    assert report.results[0].status == "converged"
    assert "StudyDescription" not in api.latest(A)["Study"]["DICOM"]


def test_outside_write_makes_only_that_image_set_stale(api: FakeAPI, journal: Journal) -> None:
    api.outside_write(B, {"Patient": {"DICOM": {"PatientName": "OUTSIDE^WRITE"}}})
    report = run(api, journal, update_plan(A), update_plan(B), update_plan(C))
    assert statuses(report) == {A: "converged", B: "stale", C: "converged"}
    stale = report.results[1]
    assert (stale.planned_version, stale.current_version) == ("1", "2")
    assert api.latest(B)["Patient"]["DICOM"]["PatientName"] == "OUTSIDE^WRITE"
    assert report.exit_code == 3


@pytest.mark.parametrize(
    ("setup", "expected_message"),
    [
        (lambda api: api.update_failed.add(B), "UPDATE_FAILED on version 2: INVALID_REQUEST"),
        (lambda api: api.ignore.add(B), "not converged after version 2: Patient.DICOM.PatientName"),
        (lambda api: api.errors.__setitem__(B, Throttled("throttled by UpdateImageSetMetadata")), "throttled"),
        (lambda api: api.errors.__setitem__(B, ServiceError("InternalServerException (500)")), "500"),
    ],
    ids=["update-failed", "did-not-converge", "throttled", "server-error"],
)
def test_failures_are_reported_per_image_set_and_others_go_on(
    api: FakeAPI, journal: Journal, setup, expected_message: str
) -> None:
    setup(api)
    report = run(api, journal, update_plan(A), update_plan(B), update_plan(C))
    assert statuses(report) == {A: "converged", B: "failed", C: "converged"}
    assert expected_message in (report.results[1].message or "")
    assert report.exit_code == 1


def test_failure_and_stale_together_exit_1(api: FakeAPI, journal: Journal) -> None:
    api.update_failed.add(A)
    api.outside_write(B, {"Patient": {"DICOM": {"PatientID": "X"}}})
    assert run(api, journal, update_plan(A), update_plan(B)).exit_code == 1


def test_long_lock_beyond_the_bound_fails_with_a_timeout(journal: Journal) -> None:
    api = FakeAPI(lock_polls=10_000)
    api.add(A, {"Patient": {"DICOM": {}}})
    ticks = iter(float(i) for i in range(100_000))
    options = ApplyOptions(wait=WaitPolicy(initial=1.0, timeout=3.0))
    executor = Executor(api, journal, options=options, sleep=lambda _s: None, clock=lambda: next(ticks))
    report = executor.run(plan_of(update_plan(A)))
    assert report.results[0].status == "failed"
    assert "still LOCKED after 3 s" in (report.results[0].message or "")


def test_partial_write_then_conflict_is_a_failure_not_stale(api: FakeAPI, journal: Journal) -> None:
    real_update = api.update_image_set_metadata

    def update_then_outside_write(*args, **kwargs) -> UpdateResult:
        answer = real_update(*args, **kwargs)
        api.outside_write(A, {"Patient": {"DICOM": {"PatientID": "X"}}})
        return answer

    api.update_image_set_metadata = update_then_outside_write  # type: ignore[method-assign]
    report = run(api, journal, update_plan(A, rename_request(), rename_request("B^B")))
    assert report.results[0].status == "failed"
    assert "after request 1 of 2" in (report.results[0].message or "")


@pytest.mark.parametrize(
    ("isp", "status"),
    [
        (ImageSetPlan(DS, A, "1", "none"), "unchanged"),
        (ImageSetPlan(DS, A, None, "error", error="Patient.DICOM.PixelData is forbidden"), "failed"),
    ],
)
def test_non_update_actions_send_nothing(api: FakeAPI, journal: Journal, isp: ImageSetPlan, status: str) -> None:
    report = run(api, journal, isp)
    assert report.results[0].status == status
    assert not [c for c in api.calls if c[0] == "UpdateImageSetMetadata"]


def test_internal_errors_become_a_failed_result(api: FakeAPI, journal: Journal) -> None:
    def boom(*_a, **_k):
        raise KeyError("x")

    api.get_image_set = boom  # type: ignore[method-assign]
    report = run(api, journal, update_plan(A))
    assert report.results[0].message == "internal error (KeyError)"


def test_journal_has_one_record_per_state_change_and_no_values(
    api: FakeAPI, journal: Journal, tmp_path: Path
) -> None:
    api.outside_write(B, {"Patient": {"DICOM": {"PatientID": "X"}}})
    run(api, journal, update_plan(A), update_plan(B))
    records = read_journal(journal.path)
    events = [(r["event"], r.get("imageSetId")) for r in records]
    assert events[0] == ("run_started", None) and events[-1] == ("run_finished", None)
    a_events = [e for e, i in events if i == A]
    assert a_events == ["planned", "submitting", "submitted", "updated", "converged"]
    assert [e for e, i in events if i == B] == ["planned", "stale"]  # seen before sending: nothing sent
    submitted = next(r for r in records if r["event"] == "submitted")
    assert (submitted["guard"], submitted["version"]) == ("1", "2")
    text = journal.path.read_text()
    assert PHI not in text and "OLD^NAME" not in text
    assert all(json.loads(line) for line in text.splitlines())


class Recorder:
    def __init__(self) -> None:
        self.total = -1
        self.done: list[str] = []

    def started(self, total: int) -> None:
        self.total = total

    def finished(self, result) -> None:
        self.done.append(result.status)


def test_observer_sees_every_image_set(api: FakeAPI, journal: Journal) -> None:
    rec = Recorder()
    Executor(api, journal, options=FAST, observer=rec, sleep=lambda _s: None).run(
        plan_of(update_plan(A), ImageSetPlan(DS, B, "1", "none"))
    )
    assert rec.total == 2 and sorted(rec.done) == ["converged", "unchanged"]


def test_rerunning_an_applied_plan_reports_converged_not_stale(api: FakeAPI, journal: Journal) -> None:
    first = run(api, journal, update_plan(A))
    again = run(api, journal, update_plan(A))
    assert first.results[0].status == again.results[0].status == "converged"
    assert again.results[0].message == "already applied (found at version 2)"
    assert [g for op, _i, g in api.calls if op == "UpdateImageSetMetadata"] == ["1"]  # none for the re-run
    assert again.exit_code == 0


def test_a_writer_between_the_version_check_and_the_update_makes_it_stale(api: FakeAPI, journal: Journal) -> None:
    real = api.update_image_set_metadata

    def outside_first(datastore_id: str, image_set_id: str, *args, **kwargs):
        if image_set_id == B and len(api.sets[B].docs) == 1:
            api.outside_write(B, {"Patient": {"DICOM": {"PatientName": "OUTSIDE^WRITE"}}})
        return real(datastore_id, image_set_id, *args, **kwargs)

    api.update_image_set_metadata = outside_first  # type: ignore[method-assign]
    report = run(api, journal, update_plan(A), update_plan(B))
    assert statuses(report) == {A: "converged", B: "stale"}
    assert (report.results[1].planned_version, report.results[1].current_version) == ("1", "2")
    assert api.latest(B)["Patient"]["DICOM"]["PatientName"] == "OUTSIDE^WRITE"


def test_stop_ends_waits_at_once_and_sends_nothing_more(journal: Journal) -> None:
    api = FakeAPI(lock_polls=1_000_000)
    api.add(A, {"Patient": {"DICOM": {}}})
    executor = Executor(api, journal, options=ApplyOptions(wait=WaitPolicy(initial=60.0)))
    real_get = api.get_image_set

    def get_then_stop(*args, **kwargs):
        if any(c[0] == "UpdateImageSetMetadata" for c in api.calls):
            executor.stop()  # while the worker is about to wait 60 s for the update to settle
        return real_get(*args, **kwargs)

    api.get_image_set = get_then_stop  # type: ignore[method-assign]
    report = executor.run(plan_of(update_plan(A, rename_request(), rename_request("B^B"))))
    assert report.results[0].status == "unfinished"
    assert report.results[0].message.startswith("the run stopped while its update was in flight")
    assert len([c for c in api.calls if c[0] == "UpdateImageSetMetadata"]) == 1
    assert report.exit_code == 1  # stopped by a caller, not by a signal


def _cancel_during(api: FakeAPI, image_set_id: str, cancel: Cancellation, *reasons: str) -> None:
    """Make CANCEL receive REASONS while the update of IMAGE_SET_ID is in flight (as a signal would)."""
    real = api.update_image_set_metadata

    def update(datastore_id: str, isid: str, *args, **kwargs):
        answer = real(datastore_id, isid, *args, **kwargs)
        if isid == image_set_id:
            for reason in reasons:
                cancel.request(reason)
        return answer

    api.update_image_set_metadata = update  # type: ignore[method-assign]


def test_a_stop_request_lets_the_update_in_flight_finish_and_sends_nothing_new(
    api: FakeAPI, journal: Journal
) -> None:
    cancel = Cancellation()
    _cancel_during(api, B, cancel, "SIGINT")
    options = ApplyOptions(parallelism=1, wait=WaitPolicy(initial=0.0))
    report = Executor(api, journal, options=options, cancel=cancel, sleep=lambda _s: None).run(
        plan_of(update_plan(A), update_plan(B), update_plan(C)))
    assert statuses(report) == {A: "converged", B: "converged", C: "not_started"}  # B was in flight: verified
    assert ("GetImageSetMetadata", B, "2") in api.calls
    assert api.latest(C)["Patient"]["DICOM"]["PatientName"] == "OLD^NAME" and len(api.sets[C].docs) == 1
    assert (report.interrupted, report.signal, report.exit_code) == (True, "SIGINT", 130)
    last = read_journal(journal.path)[-1]
    assert last["event"] == "run_interrupted"
    assert (last["reason"], last["exit_code"], last["converged"], last["not_started"]) == ("SIGINT", 130, 2, 1)


def test_sigterm_exits_143_and_the_not_started_wait_for_no_token(journal: Journal) -> None:
    api = three_sets()
    cancel = Cancellation()
    _cancel_during(api, A, cancel, "SIGTERM")
    options = ApplyOptions(parallelism=3, wait=WaitPolicy(initial=0.0))
    report = Executor(api, journal, options=options, cancel=cancel, sleep=lambda _s: None).run(
        plan_of(update_plan(A), update_plan(B), update_plan(C)))
    assert report.exit_code == 143 and statuses(report)[A] == "converged"
    for r in report.results:  # B and C may have been sent before the request: then they were finished too
        sent = len(api.sets[r.image_set_id].docs) > 1
        assert r.status == ("converged" if sent else "not_started")
    assert read_journal(journal.path)[-1]["event"] == "run_interrupted"


def test_the_drain_is_bounded_and_what_is_still_locked_is_unfinished(journal: Journal) -> None:
    api = FakeAPI(lock_polls=1_000_000)  # B's update never leaves LOCKED
    for name in (A, B):
        api.add(name, base_doc())
    cancel = Cancellation()
    _cancel_during(api, B, cancel, "SIGINT")
    options = ApplyOptions(parallelism=1, wait=WaitPolicy(initial=0.01, max_interval=0.01), drain_timeout=0.0)
    report = Executor(api, journal, options=options, cancel=cancel).run(plan_of(update_plan(B), update_plan(A)))
    assert statuses(report) == {B: "unfinished", A: "not_started"}
    assert report.exit_code == 130 and not report.aborted
    records = read_journal(journal.path)
    assert [r["event"] for r in records if r.get("imageSetId") == B][-1] == "unfinished"
    assert records[-1]["event"] == "run_interrupted" and records[-1]["unfinished"] == 1


def test_a_second_request_aborts_without_waiting(journal: Journal) -> None:
    api = FakeAPI(lock_polls=1_000_000)
    api.add(A, base_doc())
    cancel = Cancellation()
    _cancel_during(api, A, cancel, "SIGINT", "SIGTERM")
    options = ApplyOptions(wait=WaitPolicy(initial=0.01, max_interval=0.01), drain_timeout=3600.0)
    report = Executor(api, journal, options=options, cancel=cancel).run(plan_of(update_plan(A)))
    assert report.aborted and report.exit_code == 143  # the signal that ended the run
    assert report.results[0].status == "unfinished" and "may have been applied" in report.results[0].message
    assert read_journal(journal.path)[-1]["event"] == "run_aborted"


def test_an_image_set_found_at_a_locked_newer_version_is_judged_once_it_settles(journal: Journal) -> None:
    api = FakeAPI(lock_polls=3)
    api.add(A, base_doc())
    api.update_image_set_metadata(DS, A, "1", updatable=rename_request().updatable)  # another run's, LOCKED
    api.calls.clear()
    report = run(api, journal, update_plan(A))
    assert report.results[0].message == "already applied (found at version 2)"
    assert not [c for c in api.calls if c[0] == "UpdateImageSetMetadata"]


def test_without_signal_handlers_ctrl_c_is_a_stop_request_too(api: FakeAPI, journal: Journal) -> None:
    """A library caller that installed no handler: KeyboardInterrupt in the main thread asks to stop."""
    if threading.current_thread() is not threading.main_thread() or (
            signal.getsignal(signal.SIGINT) is not signal.default_int_handler):
        pytest.skip("needs Python's default SIGINT handling in the main thread")
    options = ApplyOptions(parallelism=1, wait=WaitPolicy(initial=0.0))
    executor = Executor(api, journal, options=options, sleep=lambda _s: None)
    real = api.update_image_set_metadata

    def update(datastore_id: str, image_set_id: str, *args, **kwargs):
        answer = real(datastore_id, image_set_id, *args, **kwargs)
        if image_set_id == B:  # a real Ctrl-C while B is in flight; B waits until the run has seen it
            signal.pthread_kill(threading.main_thread().ident, signal.SIGINT)
            assert executor.cancel.stop_sending.wait(10)
        return answer

    api.update_image_set_metadata = update  # type: ignore[method-assign]
    report = executor.run(plan_of(update_plan(A), update_plan(B), update_plan(C)))
    assert statuses(report) == {A: "converged", B: "converged", C: "not_started"}
    assert report.exit_code == 130 and read_journal(journal.path)[-1]["event"] == "run_interrupted"


def test_an_update_naming_a_missing_series_ends_update_failed_as_the_emulator_decides(
    api: FakeAPI, journal: Journal
) -> None:
    """The fake applies updates with the emulator's own semantics: an update cannot create a series."""
    missing = UpdateRequest(blob({"Study": {"Series": {"9.9.9": {"DICOM": {"Modality": "MR"}}}}}), None, True)
    report = run(api, journal, update_plan(A, missing))
    (result,) = report.results
    assert result.status == "failed" and "Series 9.9.9 is not present" in (result.message or "")
    assert "9.9.9" not in api.latest(A)["Study"]["Series"]
