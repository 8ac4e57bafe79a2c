"""The diff on primary image sets (what a primary refuses) and across re-keyed series and instances."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from reconciler.apply.verify import converged_check
from reconciler.plan.diff import diff_image_set, diff_with_moves, format_path
from reconciler.plan.model import ImageSetPlan, UpdateRequest
from reconciler.plan.moves import follow, live_paths
from reconciler.plan.replacing import on_copy
from reconciler.plan.requests import build_requests
from tests.unit.plan.test_plan_diff import INST, S, inst, live_doc

INSTANCE = f"Study.Series[{S}].Instances[{INST}].DICOM"
NEW_INST, NEW_SERIES = "4.5.7", "1.2.4"


@pytest.mark.parametrize(
    ("desired", "force", "expected"),
    [
        ({"Patient": {"DICOM": {"PatientName": "X^Y"}}}, False, "Patient-level metadata elements"),
        ({"Patient": {"DICOM": {"PatientID": None}}}, False, "Patient-level metadata elements"),
        ({"Study": {"Series": {S: {"DICOM": {"Modality": "MR"}}}}}, False, "Series-level metadata elements"),
        (inst({"SOPInstanceUID": "9.9"}), True, "SOPInstanceUID cannot be changed on a primary image set, not even"),
        (inst({"00080018": "9.9"}), True, "00080018 cannot be changed"),
        ({"Study": {"DICOM": {"StudyInstanceUID": "9.9"}}}, True, "StudyInstanceUID cannot be changed"),
        ({"Study": {"Series": {S: {"DICOM": {"SeriesInstanceUID": "9.9"}}}}}, True, "SeriesInstanceUID cannot"),
    ],
)
def test_what_a_primary_refuses(desired: dict[str, Any], force: bool, expected: str) -> None:
    (change,) = diff_image_set(desired, live_doc(), force, primary=True)
    assert change.check == "refused on primary"
    assert change.reason is not None and expected in change.reason
    # the same change on a non-primary image set plans as it always did
    (plain,) = diff_image_set(desired, live_doc(), force)
    assert plain.check in ("ok", "needs force")
    assert build_requests([change]) == ()


@pytest.mark.parametrize(
    ("desired", "check"),
    [
        ({"Study": {"DICOM": {"StudyDescription": "HEAD"}}}, "ok"),
        (inst({"KVP": "100"}), "ok"),
        ({"Study": {"Series": {S: {"Instances": {INST: None}}}}}, "ok"),  # one instance removed: allowed
    ],
)
def test_what_a_primary_allows(desired: dict[str, Any], check: str) -> None:
    (change,) = diff_image_set(desired, live_doc(), True, primary=True)
    assert change.check == check


@pytest.mark.parametrize(
    ("desired", "reason"),
    [
        ({"Study": {"DICOM": {"StudyID": "7"}}}, "force cannot be used on a primary image set"),
        ({"Study": {"Series": {S: {"Instances": {INST: {"DICOM": {"00091001": "X"},
                                                        "DICOMVRs": {"00091001": "LO"}}}}}}},
         "force cannot be used on a primary image set"),  # a private tag needs force
        ({"Study": {"Series": {S: None}}}, "a whole series cannot be removed from a primary image set"),
    ],
    ids=["forced-study-id", "forced-private-tag", "series-removal"],
)
def test_force_and_series_removal_are_refused_on_a_primary_and_fine_on_a_copy(desired: dict[str, Any],
                                                                             reason: str) -> None:
    (change,) = diff_image_set(desired, live_doc(), True, primary=True)
    assert (change.check, reason in (change.reason or "")) == ("refused on primary", True)
    assert "7" not in (change.reason or "") and "X" not in (change.reason or "")  # never a value
    (same,) = diff_image_set(desired, live_doc(), True, primary=False)
    assert same.check in ("ok", "needs force")
    assert on_copy(change).check == same.check  # the non-primary copy takes it as any non-primary does


def test_forbidden_wins_over_refused() -> None:
    (change,) = diff_image_set({"Patient": {"DICOM": {"Modality": "MR"}}}, live_doc(), False, primary=True)
    assert change.check == "forbidden"


def moved_instance() -> dict[str, Any]:
    """live_doc after a forced SOPInstanceUID change: the instance lives under its new UID."""
    doc = live_doc()
    node = doc["Study"]["Series"][S]["Instances"].pop(INST)
    node["DICOM"]["SOPInstanceUID"] = NEW_INST
    doc["Study"]["Series"][S]["Instances"][NEW_INST] = node
    return doc


def test_a_moved_instance_is_compared_at_its_new_key() -> None:
    desired = inst({"SOPInstanceUID": NEW_INST, "KVP": "120"})
    changes, moves = diff_with_moves(desired, moved_instance(), True)
    assert changes == ()
    (move,) = moves
    assert (move.spec_path, move.live_path) == (("Study", "Series", S, "Instances", INST),
                                                ("Study", "Series", S, "Instances", NEW_INST))
    # before the move the same spec plans the UID change at the old key
    (before,) = diff_image_set(desired, live_doc(), True)
    assert format_path(before.path) == f"{INSTANCE}.SOPInstanceUID"


def test_changes_of_a_moved_instance_address_its_new_key() -> None:
    changes, _ = diff_with_moves(inst({"SOPInstanceUID": NEW_INST, "KVP": "100"}), moved_instance(), True)
    (change,) = changes
    assert change.path == ("Study", "Series", S, "Instances", NEW_INST, "DICOM", "KVP")


def test_a_moved_series_carries_its_instances() -> None:
    doc = live_doc()
    series = doc["Study"]["Series"].pop(S)
    series["DICOM"]["SeriesInstanceUID"] = NEW_SERIES
    doc["Study"]["Series"][NEW_SERIES] = series
    desired = {"Study": {"Series": {S: {"DICOM": {"SeriesInstanceUID": NEW_SERIES},
                                        "Instances": {INST: {"DICOM": {"KVP": "99"}}}}}}}
    changes, moves = diff_with_moves(desired, doc, True)
    assert [m.live_path for m in moves] == [("Study", "Series", NEW_SERIES)]
    assert [c.path for c in changes] == [("Study", "Series", NEW_SERIES, "Instances", INST, "DICOM", "KVP")]
    moved = live_paths(desired, doc)
    assert follow(("Study", "Series", S, "Instances", INST, "DICOM", "KVP"), moved) == changes[0].path


def test_an_instance_absent_under_both_keys_is_still_missing() -> None:
    (change,) = diff_image_set(inst({"SOPInstanceUID": "8.8.8"}), moved_instance(), True)
    assert change.check == "forbidden" and "does not exist" in (change.reason or "")


def test_verify_follows_the_move_of_a_forced_uid_change() -> None:
    """The request addresses the old key; after the service re-keyed the node, verify finds it converged."""
    desired = inst({"SOPInstanceUID": NEW_INST})
    changes = diff_image_set(desired, live_doc(), True)
    plan = ImageSetPlan("d" * 32, "i" * 32, "1", "update", changes=changes, requests=build_requests(changes),
                        desired=desired, force=True)
    assert converged_check(plan, moved_instance()) == ()
    unmoved = copy.deepcopy(live_doc())
    assert converged_check(plan, unmoved) != ()  # not applied: the UID still differs


def test_verify_of_a_request_that_did_not_move_reports_the_path() -> None:
    request = UpdateRequest(b'{"SchemaVersion":1.1,"Study":{"Series":{"1.2.3":{"Instances":{"4.5.6":'
                            b'{"DICOM":{"KVP":"1"}}}}}}}', None, False)
    plan = ImageSetPlan("d" * 32, "i" * 32, "1", "update", requests=(request,))
    assert converged_check(plan, live_doc()) == (("Study", "Series", S, "Instances", INST, "DICOM", "KVP"),)
