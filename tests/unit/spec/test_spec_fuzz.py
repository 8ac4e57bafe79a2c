"""Hypothesis: arbitrary text and arbitrary spec-shaped documents only ever yield Diagnostics."""

from __future__ import annotations

from typing import Any

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from reconciler.spec import validate_text
from reconciler.spec.model import Diagnostic

KEYS = st.sampled_from([
    "apiVersion", "kind", "target", "force", "desired", "datastoreId", "imageSetId", "select",
    "DICOMPatientId", "Patient", "Study", "Series", "Instances", "DICOM", "DICOMVRs", "PatientName",
    "StudyDate", "Rows", "ImageType", "ReferencedImageSequence", "SOPInstanceUID", "00091001", "001910f9",
    "00100010", "PixelData", "ImageFrames", "SchemaVersion", "1.2.3", "1.02", "<<", "", "PatientNmae",
])
SCALARS = st.one_of(
    st.none(), st.booleans(), st.integers(), st.floats(allow_nan=True), st.text(max_size=20),
    st.sampled_from(["reconciler/v1", "ImageSetMetadata", "1" * 32, "ea92b0d8838c72a3f25d00d13616f87e",
                     "20240101", "DS", "US", "SQ", "1.10", "no"]),
)
TREES = st.recursive(
    SCALARS,
    lambda children: st.one_of(st.lists(children, max_size=4), st.dictionaries(KEYS, children, max_size=5)),
    max_leaves=30,
)
SPEC_SHAPED = st.fixed_dictionaries(
    {"apiVersion": st.just("reconciler/v1"), "kind": st.just("ImageSetMetadata")},
    optional={"target": TREES, "force": TREES, "desired": TREES, "extra": TREES},
)

FAST = settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _only_diagnostics(text: str) -> None:
    found = validate_text(text, "fuzz.yaml")
    assert all(isinstance(d, Diagnostic) and d.line >= 1 and d.column >= 1 for d in found)


@FAST
@given(st.text(max_size=300))
def test_arbitrary_text(text: str) -> None:
    _only_diagnostics(text)


@FAST
@given(st.text(alphabet=":-[]{}&*!|>'\"#?,\n -abc01.~", max_size=200))
def test_yaml_punctuation_soup(text: str) -> None:
    _only_diagnostics(text)


@FAST
@given(st.lists(SPEC_SHAPED, min_size=1, max_size=3))
def test_spec_shaped_documents(docs: list[dict[str, Any]]) -> None:
    _only_diagnostics(yaml.safe_dump_all(docs, allow_unicode=True))


ATTR_KEYS = st.sampled_from([
    "PatientName", "PatientID", "PatientSex", "StudyDate", "StudyTime", "StudyDescription", "StudyID",
    "Modality", "SeriesNumber", "SOPInstanceUID", "Rows", "PixelSpacing", "ImageType", "LUTDescriptor",
    "ProcedureCodeSequence", "CodeValue", "SliceThickness", "PatientAge", "00091001", "001910F9",
    "00120099", "PixelData", "Foo",
])
DICOM_MAP = st.dictionaries(ATTR_KEYS, TREES, max_size=6)
LEVEL = st.fixed_dictionaries({}, optional={
    "DICOM": DICOM_MAP, "DICOMVRs": st.dictionaries(st.sampled_from(["00091001", "001910F9"]), SCALARS)})
UIDS = st.sampled_from(["1.2.3", "1.2.3.4", "1.02"])
DESIRED = st.fixed_dictionaries({}, optional={
    "Patient": LEVEL,
    "Study": st.fixed_dictionaries({}, optional={
        "DICOM": DICOM_MAP,
        "Series": st.dictionaries(UIDS, st.one_of(st.none(), st.fixed_dictionaries({}, optional={
            "DICOM": DICOM_MAP, "Instances": st.dictionaries(UIDS, st.one_of(st.none(), LEVEL))}))),
    }),
})
TARGET = st.sampled_from([
    {"datastoreId": "1" * 32, "imageSetId": "a" * 32},
    {"datastoreId": "1" * 32, "select": {"DICOMPatientId": "P"}},
])


@FAST
@given(st.lists(st.fixed_dictionaries({
    "apiVersion": st.just("reconciler/v1"), "kind": st.just("ImageSetMetadata"), "target": TARGET,
    "force": st.booleans(), "desired": DESIRED}), min_size=1, max_size=3))
def test_metadata_shaped_documents(docs: list[dict[str, Any]]) -> None:
    _only_diagnostics(yaml.safe_dump_all(docs, allow_unicode=True))


PHI_VALUES = st.one_of(
    st.text(max_size=80).map(lambda t: "ZQXMARK" + t),
    st.lists(st.text(max_size=10).map(lambda t: "ZQXMARK" + t), min_size=1, max_size=3),
)


@FAST
@given(st.dictionaries(st.sampled_from(["PatientName", "PatientID", "PatientBirthDate", "PatientSex",
                                        "StudyDescription", "OtherPatientNames", "00091001"]),
                       PHI_VALUES, min_size=1), st.booleans())
def test_no_message_holds_a_patient_value(values: dict[str, Any], force: bool) -> None:
    doc = {"apiVersion": "reconciler/v1", "kind": "ImageSetMetadata",
           "target": {"datastoreId": "1" * 32, "imageSetId": "a" * 32}, "force": force,
           "desired": {"Patient": {"DICOM": values}}}
    for d in validate_text(yaml.safe_dump(doc, allow_unicode=True), "phi.yaml"):
        assert "ZQXMARK" not in d.render()
