"""Property tests of the diff with the emulator's own update semantics (``apply_updates``)."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from reconciler.emulator.updates import apply_updates
from reconciler.plan.diff import diff_image_set
from reconciler.plan.requests import build_requests

LEVEL_ATTRS = {
    "Patient": ("PatientName", "PatientID", "PatientSex"),
    "Study": ("StudyDescription", "AccessionNumber", "PatientAge"),
    "Series": ("SeriesDescription", "BodyPartExamined", "SeriesNumber"),
    "Instance": ("ImageComments", "KVP", "InstanceNumber"),
}
SERIES = ("1.1", "1.2")
INSTANCES = ("2.1", "2.2")
text = st.text(alphabet="ABCDEFGHIJ^ 0123456789", min_size=0, max_size=8)


def dicom(level: str) -> st.SearchStrategy[dict[str, Any]]:
    return st.dictionaries(st.sampled_from(LEVEL_ATTRS[level]), st.one_of(st.none(), text), max_size=3)


@st.composite
def live_docs(draw: st.DrawFn) -> dict[str, Any]:
    series = {
        s: {"DICOM": draw(dicom("Series")),
            "Instances": {i: {"DICOM": draw(dicom("Instance")), "DICOMVRs": {}} for i in INSTANCES}}
        for s in SERIES
    }
    return {"SchemaVersion": "1.1", "Patient": {"DICOM": draw(dicom("Patient"))},
            "Study": {"DICOM": draw(dicom("Study")), "Series": series}}


@st.composite
def desired_trees(draw: st.DrawFn) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if draw(st.booleans()):
        out["Patient"] = {"DICOM": draw(dicom("Patient"))}
    study: dict[str, Any] = {"DICOM": draw(dicom("Study"))}
    series: dict[str, Any] = {}
    for s in draw(st.lists(st.sampled_from(SERIES), unique=True, max_size=2)):
        node: dict[str, Any] = {"DICOM": draw(dicom("Series"))}
        inst: dict[str, Any] = {}
        for i in draw(st.lists(st.sampled_from(INSTANCES), unique=True, max_size=2)):
            inst[i] = None if draw(st.booleans()) and draw(st.booleans()) else {"DICOM": draw(dicom("Instance"))}
        node["Instances"] = inst
        series[s] = node
    study["Series"] = series
    out["Study"] = study
    return out


def managed(live: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in live.items() if k in ("Patient", "Study")}


def apply_all(live: dict[str, Any], desired: dict[str, Any]) -> dict[str, Any]:
    changes = diff_image_set(desired, live, force=True)
    doc = live
    for req in build_requests(changes):
        upd = json.loads(req.updatable) if req.updatable else None
        rem = json.loads(req.removable) if req.removable else None
        doc = apply_updates(doc, upd, rem)
    return doc


@settings(max_examples=60, deadline=None)
@given(live_docs())
def test_plan_of_live_against_itself_is_empty(live: dict[str, Any]) -> None:
    assert diff_image_set(managed(live), live, force=False) == ()


@settings(max_examples=80, deadline=None)
@given(live_docs(), desired_trees())
def test_applying_the_plan_converges(live: dict[str, Any], desired: dict[str, Any]) -> None:
    after = apply_all(live, desired)
    assert diff_image_set(desired, after, force=True) == ()


def _leaves(tree: Any, prefix: tuple[str, ...] = ()) -> dict[tuple[str, ...], Any]:
    if isinstance(tree, dict) and tree:
        out: dict[tuple[str, ...], Any] = {}
        for k, v in tree.items():
            out.update(_leaves(v, (*prefix, k)))
        return out
    return {prefix: tree}


def _managed_by(path: tuple[str, ...], desired: dict[str, Any]) -> bool:
    node: Any = desired
    for part in path:
        if not isinstance(node, dict) or part not in node:
            return False
        node = node[part]
        if node is None:
            return True
    return True


@settings(max_examples=80, deadline=None)
@given(live_docs(), desired_trees())
def test_nothing_outside_the_spec_is_touched(live: dict[str, Any], desired: dict[str, Any]) -> None:
    after = _leaves(apply_all(live, desired))
    for path, value in _leaves(live).items():
        if not _managed_by(path, desired):
            assert after.get(path, "<gone>") == value, path


@settings(max_examples=40, deadline=None)
@given(st.sampled_from(["1", "120", "0.5", "12"]), st.sampled_from([" ", "  ", ""]))
def test_padded_live_values_plan_nothing(value: str, pad: str) -> None:
    live = {"Study": {"DICOM": {"PatientAge": "030Y "},
                      "Series": {"1.1": {"DICOM": {"SeriesNumber": value + pad},
                                         "Instances": {"2.1": {"DICOM": {"KVP": value + pad}}}}}}}
    desired = {"Study": {"DICOM": {"PatientAge": "030Y"},
                         "Series": {"1.1": {"DICOM": {"SeriesNumber": value},
                                            "Instances": {"2.1": {"DICOM": {"KVP": value}}}}}}}
    assert diff_image_set(desired, live, force=False) == ()
