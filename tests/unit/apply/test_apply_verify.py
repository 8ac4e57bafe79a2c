"""Verification from the plan's own payloads: updatable values must hold, removable paths must be gone."""

from __future__ import annotations

from typing import Any

import pytest

from reconciler.apply.verify import converged_check, same_value, unmet_paths
from reconciler.plan.model import ImageSetPlan, UpdateRequest
from tests.support.applyfakes import DS, A, base_doc, blob


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


@pytest.mark.parametrize(
    ("live", "desired", "same"),
    [("1.10", 1.1, True), ("1 ", "1", True), ("A", "B", False), ([1, "2 "], ["1", 2], True), (None, None, True),
     ("", None, False), ({"a": "x "}, {"a": "x"}, True)],
)
def test_same_value(live: Any, desired: Any, same: bool) -> None:
    assert same_value(live, desired) is same


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
