"""Verification from the plan's own payloads: updatable values must hold, removable paths must be gone."""

from __future__ import annotations

from typing import Any

import pytest
from applyfakes import DS, A, base_doc, blob

from reconciler.apply.verify import converged_check, unmet_paths
from reconciler.dicom.dictionary import lookup
from reconciler.dicom.tree import set_at
from reconciler.plan.diff import diff_image_set
from reconciler.plan.model import ImageSetPlan, UpdateRequest


def plan(updatable: dict[str, Any] | None = None, removable: dict[str, Any] | None = None) -> ImageSetPlan:
    req = UpdateRequest(blob(updatable) if updatable else None, blob(removable) if removable else None, False)
    return ImageSetPlan(DS, A, "1", "update", requests=(req,))


SERIES = {"Study": {"Series": {"1.2.3": {"Instances": {"1.2.3.4": {}}}}}}


@pytest.mark.parametrize(
    ("isp", "unmet"),
    [
        (plan({"Patient": {"DICOM": {"PatientName": "OLD^NAME"}}}), ()),
        (plan({"Patient": {"DICOM": {"PatientName": "NEW^NAME"}}}), (("Patient", "DICOM", "PatientName"),)),
        (plan({"Study": {"DICOM": {"StudyDescription": "CHEST"}}}), ()),  # trailing padding
        (plan({"Patient": {"DICOM": {"PatientSex": "F"}}}), (("Patient", "DICOM", "PatientSex"),)),
        (plan(removable={"Study": {"DICOM": {"StudyDescription": "CHEST"}}}),
         (("Study", "DICOM", "StudyDescription"),)),
        (plan(removable={"Study": {"DICOM": {"AccessionNumber": "1"}}}), ()),
        (plan(removable=SERIES), (("Study", "Series", "1.2.3", "Instances", "1.2.3.4"),)),
        (plan(removable={"Study": {"Series": {"9.9": {}}}}), ()),
    ],
    ids=["same", "changed", "padding", "missing", "still-present", "absent", "instance-present", "series-gone"],
)
def test_unmet_paths(isp: ImageSetPlan, unmet: tuple[tuple[str, ...], ...]) -> None:
    assert unmet_paths(isp, base_doc()) == unmet


INSTANCE = ("Study", "Series", "1.2.3", "Instances", "1.2.3.4")
TAG = "00091001"


@pytest.mark.parametrize(
    ("vr", "live", "desired", "same"),
    [("DS", "1.10", 1.1, True), ("LO", "1 ", "1", True), ("LO", "A", "B", False),
     ("IS", [1, "2 "], ["1", 2], True), ("LO", None, None, True),
     ("LO", "", None, True),  # an empty string is an empty element, as the planner says (was: differ)
     ("SQ", [{"a": "x "}], [{"a": "x"}], True)],
)
def test_verify_compares_with_the_vr_it_is_given(vr: str, live: Any, desired: Any, same: bool) -> None:
    """The payload's DICOMVRs entry gives a private tag its VR, and the value is compared as that VR."""
    doc, payload = base_doc(), {}
    set_at(doc, (*INSTANCE, "DICOM", TAG), live)
    set_at(doc, (*INSTANCE, "DICOMVRs", TAG), vr)
    set_at(payload, (*INSTANCE, "DICOM", TAG), desired)
    set_at(payload, (*INSTANCE, "DICOMVRs", TAG), vr)
    assert unmet_paths(plan(payload), doc) == (() if same else ((*INSTANCE, "DICOM", TAG),))


def test_without_a_known_vr_a_number_is_not_its_text() -> None:
    """No VR (a private tag nobody gave one): strict, as the planner compares it."""
    doc, payload = base_doc(), {}
    set_at(doc, (*INSTANCE, "DICOM", TAG), "1.10")
    set_at(payload, (*INSTANCE, "DICOM", TAG), 1.1)
    assert unmet_paths(plan(payload), doc) == ((*INSTANCE, "DICOM", TAG),)
    assert diff_image_set(payload, doc, force=True)[0].path == (*INSTANCE, "DICOM", TAG)


@pytest.mark.parametrize(
    ("desired", "unmet"),
    [
        ({"Patient": {"DICOM": {"PatientName": "OLD^NAME"}}}, ()),
        ({"Patient": {"DICOM": {"PatientID": "P2"}}}, (("Patient", "DICOM", "PatientID"),)),
        ({"Study": {"DICOM": {"StudyDescription": None}}}, (("Study", "DICOM", "StudyDescription"),)),
    ],
    ids=["holds", "outside-value", "must-be-absent"],
)
def test_converged_check_rediffs_the_desired_subtree(desired: dict[str, Any], unmet: tuple[Any, ...]) -> None:
    isp = ImageSetPlan(DS, A, "1", "update", desired=desired)
    assert converged_check(isp, base_doc()) == unmet


# One equality rule (dicom.normalize.values_equal) for plan, verify and drift. Each row is live vs
# desired, with the answer DICOM PS3.5 gives: SH and LO are character strings, so leading zeros and
# the digits of "1.10" are significant (section 6.2, Table 6.2-1); a PN's trailing empty components
# may be left out, so "Doe^John^^" is "Doe^John" (section 6.2.1).
EQUALITY = [
    ("Study", "AccessionNumber", "SH", "7", "007", False),
    ("Study", "StudyDescription", "LO", "1.10", "1.1", False),
    ("Patient", "PatientName", "PN", "Doe^John^^", "Doe^John", True),
]


@pytest.mark.parametrize(("level", "key", "vr", "live_value", "desired_value", "equal"), EQUALITY,
                         ids=["SH-leading-zeros", "LO-decimal-text", "PN-trailing-components"])
def test_verify_and_plan_agree_with_dicom(
    level: str, key: str, vr: str, live_value: str, desired_value: str, equal: bool
) -> None:
    entry = lookup(key)
    assert entry is not None and entry.vr == vr
    live = base_doc()
    live[level]["DICOM"][key] = live_value
    desired = {level: {"DICOM": {key: desired_value}}}
    path = (level, "DICOM", key)
    planned = [c.path for c in diff_image_set(desired, live, force=False)]
    unmet = unmet_paths(plan(desired), live)
    rediffed = converged_check(ImageSetPlan(DS, A, "1", "update", desired=desired), live)
    expected = [] if equal else [path]
    assert planned == expected  # plan (and drift, which is the same diff)
    assert list(unmet) == expected  # verify, from the request payload
    assert list(rediffed) == expected  # verify, re-diffing the desired subtree
