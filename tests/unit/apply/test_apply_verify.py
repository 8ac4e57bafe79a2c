"""Verification from the plan's own payloads: updatable values must hold, removable paths must be gone."""

from __future__ import annotations

from typing import Any

import pytest
from applyfakes import DS, A, base_doc, blob

from reconciler.apply.verify import same_value, unmet_paths
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


@pytest.mark.parametrize(
    ("live", "desired", "same"),
    [("1.10", 1.1, True), ("1 ", "1", True), ("A", "B", False), ([1, "2 "], ["1", 2], True), (None, None, True),
     ("", None, False), ({"a": "x "}, {"a": "x"}, True)],
)
def test_same_value(live: Any, desired: Any, same: bool) -> None:
    assert same_value(live, desired) is same
