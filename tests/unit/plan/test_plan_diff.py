"""The diff walks the spec: what it plans, and what it never touches."""

from __future__ import annotations

from typing import Any

import pytest

from reconciler.plan.diff import diff_image_set, format_path

S, INST = "1.2.3", "4.5.6"


def live_doc() -> dict[str, Any]:
    return {
        "SchemaVersion": "1.1",
        "DatastoreID": "d" * 32,
        "ImageSetID": "i" * 32,
        "Patient": {"DICOM": {"PatientName": "DOE^J", "PatientID": "P1", "PatientBirthDate": None}},
        "Study": {
            "DICOM": {"StudyDescription": "CHEST", "StudyInstanceUID": "1.2", "AccessionNumber": "A1"},
            "Series": {
                S: {
                    "DICOM": {"Modality": "CT", "SeriesNumber": "1 "},
                    "Instances": {
                        INST: {
                            "DICOM": {"SliceThickness": "1.10", "KVP": "120 ", "00091001": "GE",
                                      "ImageType": ["ORIGINAL", "PRIMARY"]},
                            "DICOMVRs": {"00091001": "LO"},
                            "ImageFrames": [{"ID": "f" * 32, "MinPixelValue": 0}],
                        }
                    },
                }
            },
        },
    }


def inst(dicom: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {"Study": {"Series": {S: {"Instances": {INST: {"DICOM": dicom, **extra}}}}}}


@pytest.mark.parametrize(
    ("desired", "force", "expected"),
    [
        ({"Patient": {"DICOM": {"PatientName": "DOE^J"}}}, False, []),
        ({"Patient": {"DICOM": {"PatientName": "X^Y"}}}, False, [("change", "Patient.DICOM.PatientName", "ok")]),
        ({"Patient": {"DICOM": {"PatientSex": "F"}}}, False, [("add", "Patient.DICOM.PatientSex", "ok")]),
        ({"Study": {"DICOM": {"StudyDescription": None}}}, False, [("remove", "Study.DICOM.StudyDescription", "ok")]),
        ({"Study": {"DICOM": {"StudyComments": None}}}, False, []),
        ({"Patient": {"DICOM": {"PatientBirthDate": None}}}, False, []),
        ({"Study": {"Series": {S: {"DICOM": {"SeriesNumber": "1"}}}}}, False, []),
        (inst({"KVP": "120", "SliceThickness": "1.1"}), False, []),
        (inst({"00091001": "GE"}), False, []),
        (inst({"00091001": "X"}), True,
         [("change", f"Study.Series[{S}].Instances[{INST}].DICOM.00091001", "needs force")]),
        (inst({"00191001": "X"}), True, [("add", f"Study.Series[{S}].Instances[{INST}].DICOM.00191001", "forbidden")]),
        (inst({"00191001": "7"}, DICOMVRs={"00191001": "DS"}), True,
         [("add", f"Study.Series[{S}].Instances[{INST}].DICOM.00191001", "needs force")]),
        (inst({"SOPInstanceUID": "9.9"}), False,
         [("add", f"Study.Series[{S}].Instances[{INST}].DICOM.SOPInstanceUID", "needs force")]),
        (inst({"ImageType": ["DERIVED", "PRIMARY"]}), True,
         [("change", f"Study.Series[{S}].Instances[{INST}].DICOM.ImageType", "needs force")]),
        ({"Study": {"DICOM": {"PatientName": "X"}}}, False, [("add", "Study.DICOM.PatientName", "forbidden")]),
        ({"Patient": {"DICOM": {"Modality": "MR"}}}, False, [("add", "Patient.DICOM.Modality", "forbidden")]),
        (inst({"PixelData": "AA=="}), True,
         [("add", f"Study.Series[{S}].Instances[{INST}].DICOM.PixelData", "forbidden")]),
        ({"Study": {"Series": {"9.9": {"DICOM": {"Modality": "MR"}}}}}, False,
         [("add", "Study.Series[9.9]", "forbidden")]),
        ({"Study": {"Series": {S: {"Instances": {"7.7": {"DICOM": {"KVP": "1"}}}}}}}, False,
         [("add", f"Study.Series[{S}].Instances[7.7]", "forbidden")]),
        ({"Study": {"Series": {S: {"Instances": {INST: None}}}}}, False,
         [("remove", f"Study.Series[{S}].Instances[{INST}]", "ok")]),
        ({"Study": {"Series": {S: None}}}, False, [("remove", f"Study.Series[{S}]", "ok")]),
        ({"Study": {"Series": {"9.9": None}}}, False, []),
        ({"ImageSetID": "x"}, False, [("change", "ImageSetID", "forbidden")]),
    ],
)
def test_diff_table(desired: dict[str, Any], force: bool, expected: list[tuple[str, str, str]]) -> None:
    got = [(c.op, format_path(c.path), c.check) for c in diff_image_set(desired, live_doc(), force)]
    assert got == expected


def test_needs_force_records_whether_the_spec_allows_it() -> None:
    (with_force,) = diff_image_set(inst({"SOPInstanceUID": "9.9"}), live_doc(), True)
    (without,) = diff_image_set(inst({"SOPInstanceUID": "9.9"}), live_doc(), False)
    assert (with_force.force_in_spec, without.force_in_spec) == (True, False)


def test_removal_carries_the_live_value_and_node_removal_is_marked() -> None:
    (attr,) = diff_image_set({"Study": {"DICOM": {"StudyDescription": None}}}, live_doc(), False)
    (node,) = diff_image_set({"Study": {"Series": {S: {"Instances": {INST: None}}}}}, live_doc(), False)
    assert (attr.before, attr.node, node.node) == ("CHEST", False, True)


def test_reasons_never_hold_values() -> None:
    changes = diff_image_set(inst({"KVP": "SECRETVALUE", "SOPInstanceUID": "SECRETUID"}), live_doc(), False)
    assert changes and all("SECRET" not in (c.reason or "") for c in changes)


@pytest.mark.parametrize(
    ("path", "text"),
    [
        (("Patient", "DICOM", "PatientName"), "Patient.DICOM.PatientName"),
        (("Study", "Series", "1.2", "Instances", "3.4", "DICOM", "X"), "Study.Series[1.2].Instances[3.4].DICOM.X"),
        (("Study", "Series", "1.2"), "Study.Series[1.2]"),
    ],
)
def test_format_path(path: tuple[str, ...], text: str) -> None:
    assert format_path(path) == text
