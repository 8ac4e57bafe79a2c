"""Whole-document diff of two versions: what it reports at each level, what DICOM equality hides, and
that equal subtrees never reach deepdiff."""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import deepdiff
import pytest

from reconciler.plan.versiondiff import diff_versions
from reconciler.spec.model import format_path

S, S2, IN, IN2 = "1.2.3", "1.2.4", "1.2.3.1", "1.2.3.2"
SER = ("Study", "Series", S)
INS = (*SER, "Instances", IN)


def doc() -> dict[str, Any]:
    return {
        "SchemaVersion": "1.1", "DatastoreID": "d" * 32, "ImageSetID": "i" * 32,
        "Patient": {"DICOM": {"PatientName": "DOE^J", "PatientID": "P1", "PatientBirthDate": None}},
        "Study": {"DICOM": {"StudyDescription": "CHEST ", "StudyInstanceUID": "1.2", "AccessionNumber": "A1"},
                  "Series": {
                      S: {"DICOM": {"Modality": "CT", "SeriesNumber": "1 "},
                          "Instances": {
                              IN: {"DICOM": {"InstanceNumber": "1 ", "SliceThickness": "1.10", "KVP": "120 ",
                                            "ImageType": ["ORIGINAL", "PRIMARY"], "00091001": "2.50"},
                                  "DICOMVRs": {"00091001": "DS"},
                                  "ImageFrames": [{"ID": "f" * 32, "MinPixelValue": 0}]},
                              IN2: {"DICOM": {"InstanceNumber": "2 "}}}},
                      S2: {"DICOM": {"Modality": "CT", "SeriesNumber": "2"}, "Instances": {}}}},
    }


def at(*path: str) -> Callable[[dict[str, Any]], dict[str, Any]]:
    """The mapping at PATH of a document (for the edits below)."""
    def get(d: dict[str, Any]) -> dict[str, Any]:
        for p in path:
            d = d[p]
        return d
    return get


def edit(path: tuple[str, ...], key: str, value: Any = ...) -> Callable[[dict[str, Any]], None]:
    """Set KEY under PATH to VALUE, or delete it when VALUE is omitted."""
    def apply(d: dict[str, Any]) -> None:
        node = at(*path)(d)
        if value is ...:
            del node[key]
        else:
            node[key] = value
    return apply


def rekey(d: dict[str, Any]) -> None:
    instances = at(*SER, "Instances")(d)
    instances["1.2.3.9"] = instances.pop(IN)


def frame_min(d: dict[str, Any]) -> None:
    at(*INS)(d)["ImageFrames"][0]["MinPixelValue"] = 3


def drop_patient(d: dict[str, Any]) -> None:
    del d["Patient"]


P, ST = ("Patient", "DICOM"), ("Study", "DICOM")


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        # add, change, remove at each level
        (edit(P, "PatientSex", "F"), [("add", "Patient.DICOM.PatientSex", None, "F")]),
        (edit(P, "PatientName", "ROE^R"), [("change", "Patient.DICOM.PatientName", "DOE^J", "ROE^R")]),
        (edit(P, "PatientID"), [("remove", "Patient.DICOM.PatientID", "P1", None)]),
        (edit(ST, "StudyID", "7"), [("add", "Study.DICOM.StudyID", None, "7")]),
        (edit(ST, "AccessionNumber", "A2"), [("change", "Study.DICOM.AccessionNumber", "A1", "A2")]),
        (edit(ST, "AccessionNumber"), [("remove", "Study.DICOM.AccessionNumber", "A1", None)]),
        (edit((*SER, "DICOM"), "SeriesDescription", "AX"), [("add", f"Study.Series[{S}].DICOM.SeriesDescription",
                                                              None, "AX")]),
        (edit((*SER, "DICOM"), "Modality", "MR"), [("change", f"Study.Series[{S}].DICOM.Modality", "CT", "MR")]),
        (edit((*SER, "DICOM"), "Modality"), [("remove", f"Study.Series[{S}].DICOM.Modality", "CT", None)]),
        (edit((*INS, "DICOM"), "Exposure", "40"), [("add", f"Study.Series[{S}].Instances[{IN}].DICOM.Exposure",
                                                     None, "40")]),
        (edit((*INS, "DICOM"), "KVP", "100"), [("change", f"Study.Series[{S}].Instances[{IN}].DICOM.KVP",
                                                "120 ", "100")]),
        (edit((*INS, "DICOM"), "KVP"), [("remove", f"Study.Series[{S}].Instances[{IN}].DICOM.KVP", "120 ", None)]),
        (edit((*INS, "DICOM"), "ImageType", ["DERIVED", "PRIMARY", "X"]),
         [("change", f"Study.Series[{S}].Instances[{IN}].DICOM.ImageType", ["ORIGINAL", "PRIMARY"],
           ["DERIVED", "PRIMARY", "X"])]),
        # whole nodes
        (edit(("Study", "Series"), S2), [("remove", f"Study.Series[{S2}]", None, None)]),
        (edit(("Study", "Series"), "1.2.5", {"DICOM": {}}), [("add", "Study.Series[1.2.5]", None, None)]),
        (edit((*SER, "Instances"), IN2), [("remove", f"Study.Series[{S}].Instances[{IN2}]", None, None)]),
        (rekey, [("remove", f"Study.Series[{S}].Instances[{IN}]", None, None),
                 ("add", f"Study.Series[{S}].Instances[1.2.3.9]", None, None)]),
        # padding, number format and empty values are the same DICOM value: no change
        (edit(ST, "StudyDescription", "CHEST"), []),
        (edit((*SER, "DICOM"), "SeriesNumber", 1), []),
        (edit((*INS, "DICOM"), "SliceThickness", "1.1"), []),
        (edit((*INS, "DICOM"), "KVP", " 120"), []),
        (edit(P, "PatientName", "DOE^J^^"), []),
        (edit(P, "PatientBirthDate", ""), []),
        (edit((*INS, "DICOM"), "00091001", "2.5"), []),  # a DS by the DICOMVRs beside it
        (edit((*INS, "DICOM"), "ImageType", ["ORIGINAL ", "PRIMARY"]), []),
        # an empty element is not an absent one
        (edit(P, "PatientBirthDate"), [("remove", "Patient.DICOM.PatientBirthDate", None, None)]),
        # outside the DICOM maps: deepdiff's own paths, list indices joined to their key
        (frame_min,
         [("change", f"Study.Series[{S}].Instances[{IN}].ImageFrames[0].MinPixelValue", 0, 3)]),
        (edit((*INS, "DICOMVRs"), "00091001", "LO"),
         [("change", f"Study.Series[{S}].Instances[{IN}].DICOMVRs.00091001", "DS", "LO")]),
        (edit((), "SchemaVersion", "1.2"), [("change", "SchemaVersion", "1.1", "1.2")]),
        # a Patient on one side only: attribute by attribute, so that values are redacted as usual
        (drop_patient, [("remove", "Patient.DICOM.PatientName", "DOE^J", None),
                        ("remove", "Patient.DICOM.PatientID", "P1", None),
                        ("remove", "Patient.DICOM.PatientBirthDate", None, None)]),
    ],
)
def test_diff_versions(change: Callable[[dict[str, Any]], None], expected: list[tuple[Any, ...]]) -> None:
    before = doc()
    after = copy.deepcopy(before)
    change(after)
    got = diff_versions(before, after)
    assert [(c.op, format_path(c.path), c.before, c.after) for c in got] == expected
    assert all(c.node == (c.path[-2:-1] in (("Series",), ("Instances",))) for c in got)
    # the reverse diff undoes it: adds become removes, before and after swap
    undo = {"add": "remove", "remove": "add", "change": "change"}
    back = [(undo[c.op], format_path(c.path), c.after, c.before) for c in diff_versions(after, before)]
    assert sorted(back, key=repr) == sorted(expected, key=repr)


def test_equal_documents_have_no_changes() -> None:
    assert diff_versions(doc(), doc()) == ()


def test_several_changes_come_in_document_order() -> None:
    before = doc()
    after = copy.deepcopy(before)
    at(*INS, "DICOM")(after)["KVP"] = "80"
    at(*P)(after)["PatientID"] = "P2"
    del at("Study", "Series")(after)[S2]
    at(*ST)(after)["AccessionNumber"] = "A9"
    paths = [format_path(c.path) for c in diff_versions(before, after)]
    assert paths == ["Patient.DICOM.PatientID", "Study.DICOM.AccessionNumber",
                     f"Study.Series[{S}].Instances[{IN}].DICOM.KVP", f"Study.Series[{S2}]"]


def test_maps_with_nothing_in_common_are_diffed_attribute_by_attribute() -> None:
    before, after = doc(), doc()
    after["Study"]["DICOM"] = {"StudyID": "1", "StudyDate": "20240101"}
    got = [(c.op, c.path[-1]) for c in diff_versions(before, after)]
    assert got == [("remove", "StudyDescription"), ("remove", "StudyInstanceUID"), ("remove", "AccessionNumber"),
                   ("add", "StudyID"), ("add", "StudyDate")]


def test_equal_subtrees_never_reach_deepdiff(monkeypatch: pytest.MonkeyPatch) -> None:
    """Pruning: 2,000 instances with one change hand deepdiff one small map, never the document."""
    seen: list[Any] = []
    real = deepdiff.DeepDiff  # versiondiff imports it from deepdiff when it first compares

    def recording(a: Any, b: Any, **kwargs: Any) -> Any:
        seen.append(a)
        return real(a, b, **kwargs)

    monkeypatch.setattr(deepdiff, "DeepDiff", recording)
    before = doc()
    at(*SER, "Instances")(before).update({f"{S}.{n}.9": {"DICOM": {"InstanceNumber": f"{n} "}} for n in range(2000)})
    after = copy.deepcopy(before)
    at(*SER, "Instances", f"{S}.1500.9", "DICOM")(after)["InstanceNumber"] = "9"
    got = diff_versions(before, after)
    assert [format_path(c.path) for c in got] == [f"Study.Series[{S}].Instances[{S}.1500.9].DICOM.InstanceNumber"]
    assert seen == [{"InstanceNumber": "1500 "}]
