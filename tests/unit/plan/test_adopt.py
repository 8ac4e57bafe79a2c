"""The importer's YAML writer (unit level): every value reads back through the spec loader exactly as live holds it."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest

from reconciler.errors import UsageError
from reconciler.plan.adopt import Origin, build_spec, desired_from_live, parse_levels
from reconciler.plan.diff import diff_image_set
from reconciler.spec import validate_text
from reconciler.spec.loader import load_text

ORIGIN = Origin("12345678901234567890123456789012", "ea92b0d8838c72a3f25d00d13616f87e", "3",
                "2026-01-01T00:00:00Z", ("patient", "study", "series", "instance"), "../schemas/spec.schema.json")
TRAPS: list[tuple[str, Any]] = [
    ("StudyDate", "20240101"),  # YAML 1.1 would read an int
    ("StudyDescription", "no"),  # ... a bool
    ("StudyID", "1.10"),  # ... a float 1.1
    ("AccessionNumber", "null"),  # ... None
    ("ReferringPhysicianName", "Yamada^Tarou=山田^太郎"),
    ("StudyTime", "120000 "),  # padding kept
    ("StudyDescription", 'quote " and # hash: colon'),
    ("StudyDescription", "line\u2028sep\x85nel\ufeff"),
]


def live_with(study_dicom: dict[str, Any]) -> dict[str, Any]:
    return {
        "SchemaVersion": "1.1", "DatastoreID": ORIGIN.datastore_id, "ImageSetID": ORIGIN.image_set_id,
        "Patient": {"DICOM": {"PatientName": "A^B", "PatientID": "007"}},
        "Study": {"DICOM": study_dicom, "Series": {"1.2": {
            "DICOM": {"Modality": "CT", "SeriesNumber": 1},
            "Instances": {"1.2.3": {
                "DICOM": {"Rows": 512, "SliceThickness": 1.25, "ImageType": ["ORIGINAL", "PRIMARY"],
                          "00091001": "x"},
                "DICOMVRs": {"00091001": "LO"},
                "ImageFrames": [{"ID": "f", "FrameSizeInBytes": 1}],
                "StoredTransferSyntaxUID": "1.2.840.10008.1.2.4.202"}}}}},
    }


def desired_of(text: str) -> Any:
    docs, problems = load_text(text, "<t>")
    assert not problems
    return docs[0].value["desired"]


@pytest.mark.parametrize(("key", "value"), TRAPS)
def test_strings_read_back_exactly(key: str, value: str) -> None:
    text = build_spec(ORIGIN, live_with({key: value}), {"study"})
    assert desired_of(text)["Study"]["DICOM"][key] == value


def test_numbers_lists_and_private_tags_read_back_and_plan_empty() -> None:
    live = live_with({"StudyDescription": "CT"})
    text = build_spec(ORIGIN, live, {"patient", "study", "series", "instance"})
    desired = desired_of(text)
    instance = desired["Study"]["Series"]["1.2"]["Instances"]["1.2.3"]
    assert instance["DICOM"]["Rows"] == 512 and instance["DICOM"]["ImageType"] == ["ORIGINAL", "PRIMARY"]
    assert instance["DICOMVRs"] == {"00091001": "LO"}
    assert desired["Patient"]["DICOM"]["PatientID"] == "007"
    assert diff_image_set(desired, live, force=False) == ()
    assert not [d for d in validate_text(text) if d.severity == "error"]


def test_generated_keys_are_never_exported() -> None:
    desired = desired_from_live(live_with({"StudyDescription": "CT"}), {"instance"})
    instance = desired["Study"]["Series"]["1.2"]["Instances"]["1.2.3"]
    assert set(instance) == {"DICOM", "DICOMVRs"}
    assert "DICOM" not in desired["Study"]


@pytest.mark.parametrize(("levels", "present"), [
    ({"patient"}, {"Patient"}),
    ({"study"}, {"Study"}),
    ({"series"}, {"Study"}),
    ({"patient", "instance"}, {"Patient", "Study"}),
])
def test_levels_choose_the_parts(levels: set[str], present: set[str]) -> None:
    desired = desired_from_live(live_with({"StudyDescription": "CT"}), levels)
    assert set(desired) == present
    if levels == {"series"}:
        assert set(desired["Study"]) == {"Series"}
        assert "Instances" not in desired["Study"]["Series"]["1.2"]


def test_an_attribute_invalid_for_its_vr_is_left_out_and_named() -> None:
    text = build_spec(ORIGIN, live_with({"StudyDate": "2004", "StudyDescription": "CT"}), {"study"})
    assert "StudyDate:" not in text and "# Left out" in text and "Study.DICOM.StudyDate" in text
    assert "2004" not in text  # the value is never quoted in the comment


@pytest.mark.parametrize(("text", "expected"), [
    ("patient", {"patient"}), ("Study, series", {"study", "series"}),
    ("patient,study,series,instance", {"patient", "study", "series", "instance"}),
])
def test_parse_levels(text: str, expected: set[str]) -> None:
    assert parse_levels(text) == expected


@pytest.mark.parametrize("text", ["", "organ", "patient,,organ"])
def test_parse_levels_refuses_unknown(text: str) -> None:
    with pytest.raises(UsageError):
        parse_levels(text)


def test_a_select_origin_writes_a_select_target_that_validates() -> None:
    study = "1.2.840.113619.2.55.3"
    origin = dataclasses.replace(ORIGIN, select=("DICOMStudyInstanceUID", study))
    text = build_spec(origin, live_with({"StudyInstanceUID": study, "StudyDescription": "CT"}), ["study"])
    assert not [d for d in validate_text(text, "spec") if d.severity == "error"]
    (doc,), problems = load_text(text, "spec")
    assert not problems
    assert doc.value["target"] == {"datastoreId": ORIGIN.datastore_id, "select": {"DICOMStudyInstanceUID": study}}
    assert "imageSetId: " not in text


def _node(live: dict[str, Any], level: str) -> dict[str, Any]:
    study = live["Study"]
    node: dict[str, Any] = {"Patient": live["Patient"], "Study": study,
                            "Instance": study["Series"]["1.2"]["Instances"]["1.2.3"]}[level]
    return node


@pytest.mark.parametrize(("level", "key", "empty"), [
    ("Patient", "PatientBirthDate", ""),  # DA: a string VR
    ("Study", "StudyDescription", ""),
    ("Instance", "00091001", ""),  # a private tag, its VR (LO) from DICOMVRs
    ("Instance", "Rows", []),  # US: a binary number holds no string
    ("Instance", "ReferencedImageSequence", []),  # SQ
])
def test_an_empty_live_value_is_written_empty_not_null(level: str, key: str, empty: Any) -> None:
    """null in a spec means "must be absent"; an empty element is written as an empty value, and plans empty."""
    live = live_with({"StudyDescription": "CT"})
    _node(live, level)["DICOM"][key] = None
    text = build_spec(ORIGIN, live, {"patient", "study", "series", "instance"})
    # the last line of that key: a private tag's DICOMVRs entry comes first
    line = [x for x in text.splitlines() if x.strip().startswith((f"{key}:", f'"{key}":'))][-1]
    assert line.split(":", 1)[1].strip() == ('""' if empty == "" else "[]")
    desired = desired_of(text)
    assert _node(desired, level)["DICOM"][key] == empty
    assert not diff_image_set(desired, live, force=True)  # the same DICOM value as the empty element
    assert ": null" not in text
