"""Revert (guarded, waited, verified) against the in-memory API."""

from __future__ import annotations

import pytest

from reconciler.api import ImageSetInfo
from reconciler.apply.revert import differing_paths, plan_revert, run_revert
from reconciler.apply.waiter import WaitPolicy
from reconciler.errors import NotFound
from reconciler.render.revert import revert_text
from tests.support.applyfakes import DS, A, FakeAPI, base_doc

POLICY = WaitPolicy(initial=0.0, timeout=300.0)  # the bound on the real clock: a hang guard


def api_with_versions(n: int) -> FakeAPI:
    api = FakeAPI(lock_polls=1)
    api.add(A, base_doc())
    for i in range(2, n + 1):
        api.outside_write(A, {"Patient": {"DICOM": {"PatientID": f"P{i}"}}})
    return api


def test_revert_creates_a_new_version_equal_to_the_target() -> None:
    api = api_with_versions(3)
    plan = plan_revert(api, DS, A, "1", POLICY, sleep=lambda _s: None)
    result = run_revert(api, plan, POLICY, sleep=lambda _s: None)
    assert (result.status, result.new_version, result.exit_code) == ("reverted", "4", 0)
    assert api.latest(A) == base_doc()
    assert "new version 4 (verified" in revert_text(result)


def test_revert_is_guarded_by_the_version_it_read() -> None:
    api = api_with_versions(2)
    plan = plan_revert(api, DS, A, "1", POLICY)
    api.outside_write(A, {"Patient": {"DICOM": {"PatientID": "LATE"}}})
    result = run_revert(api, plan, POLICY)
    assert (result.status, result.exit_code) == ("stale", 3)
    assert api.latest(A)["Patient"]["DICOM"]["PatientID"] == "LATE"


def test_revert_to_a_missing_version_is_not_found() -> None:
    api = api_with_versions(2)
    api.get_image_set_metadata = lambda *_a, **_k: (_ for _ in ()).throw(NotFound("version 9 not found"))  # type: ignore[method-assign]
    with pytest.raises(NotFound):
        plan_revert(api, DS, A, "9", POLICY)


def test_revert_that_ends_update_failed_is_a_failure() -> None:
    api = api_with_versions(2)
    plan = plan_revert(api, DS, A, "1", POLICY)
    api.update_failed.add(A)
    real = api.revert_image_set

    def failing(*args, **kwargs):
        answer = real(*args, **kwargs)
        s = api.sets[A]
        s.infos[-1] = ImageSetInfo(DS, A, answer.latest_version_id, "ACTIVE", "UPDATE_FAILED", "INTERNAL: boom")
        return answer

    api.revert_image_set = failing  # type: ignore[method-assign]
    result = run_revert(api, plan, POLICY)
    assert result.status == "failed" and "UPDATE_FAILED on version 3: INTERNAL: boom" in (result.message or "")


@pytest.mark.parametrize(
    ("a", "b", "paths"),
    [({"x": {"y": 1}}, {"x": {"y": 1}}, []), ({"x": {"y": 1}}, {"x": {"y": 2}}, [("x", "y")]),
     ({"x": 1}, {"z": 1}, [("x",), ("z",)])],
)
def test_differing_paths(a: dict[str, object], b: dict[str, object], paths: list[tuple[str, ...]]) -> None:
    assert list(differing_paths(a, b)) == paths
