"""The shipped JSON Schema is valid Draft 2020-12; Diagnostic rendering and path formatting."""

from __future__ import annotations

import pytest
from jsonschema import Draft202012Validator, ValidationError

from reconciler.spec.loader import load_text
from reconciler.spec.model import Diagnostic, SourcePos, format_path, nearest_position
from reconciler.spec.schema import _validator, spec_schema


def test_schema_is_valid_draft_2020_12() -> None:
    schema = spec_schema()
    Draft202012Validator.check_schema(schema)
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"


WRONG = {"apiVersion": "reconciler/v1", "kind": "ImageSetMetadata", "target": {"datastoreId": "x", "select": {}},
         "desired": {"Patient": {"DICOM": {"PatientName": {"a": 1}, "bad key": "x"}, "DICOMVRs": {"00100010": "ZZ"}},
                     "Study": {"DICOM": {"OtherPatientIDsSequence": [{"PatientID": [True]}, 3, [[]]]},
                               "Series": {"1.x": {"DICOM": {"Modality": ["CT", {"00091001": {}}]},
                                                  "Instances": {"1.2": {"ImageFrames": 1, "Other": {}}}}}}},
         "extra": 1}


def test_the_validator_with_linked_definitions_finds_what_the_plain_schema_finds() -> None:
    def found(validator: Draft202012Validator) -> list[tuple[object, ...]]:
        def key(e: ValidationError) -> tuple[object, ...]:  # anyOf's value holds the (linked) subschemas
            return (e.validator, e.validator_value if e.validator != "anyOf" else None, tuple(e.absolute_path),
                    tuple(e.relative_schema_path), e.message, tuple(key(sub) for sub in e.context))

        return [key(e) for e in validator.iter_errors(WRONG)]

    plain = found(Draft202012Validator(spec_schema(), format_checker=Draft202012Validator.FORMAT_CHECKER))
    assert len(plain) >= 8
    assert found(_validator()) == plain


@pytest.mark.parametrize(
    ("path", "text"),
    [
        ((), "(document)"),
        (("target", "datastoreId"), "target.datastoreId"),
        (("desired", "Study", "Series", "1.2", "DICOM", "Modality"), "desired.Study.Series[1.2].DICOM.Modality"),
        (("Study", "Series", "1.2", "Instances", "1.2.3"), "Study.Series[1.2].Instances[1.2.3]"),
    ],
)
def test_format_path(path: tuple[str, ...], text: str) -> None:
    assert format_path(path) == text


@pytest.mark.parametrize(
    ("severity", "text"),
    [("error", "f.yaml:3:5: force: must be true or false"),
     ("warning", "f.yaml:3:5: force: warning: must be true or false")],
)
def test_render(severity: str, text: str) -> None:
    d = Diagnostic("f.yaml", 3, 5, ("force",), "must be true or false", severity)  # type: ignore[arg-type]
    assert d.render() == text


def test_nearest_position_walks_up_to_a_known_key() -> None:
    here, there, start = SourcePos("f", 3, 5), SourcePos("f", 7, 9), SourcePos("f", 1, 1)
    positions = {("desired",): here, ("desired", "Study", "DICOM"): there}
    assert nearest_position(positions, ("desired", "Study", "DICOM"), start) == there
    assert nearest_position(positions, ("desired", "Study", "DICOM", "X", "0"), start) == there
    assert nearest_position(positions, ("desired", "Patient"), start) == here
    assert nearest_position(positions, ("target",), start) == start
    assert nearest_position(positions, (), start) == start


def test_a_loaded_document_points_at_the_closest_key() -> None:
    text = "apiVersion: reconciler/v1\nkind: ImageSetMetadata\ndesired:\n  Study:\n    DICOM:\n      X: y\n"
    (doc,), _ = load_text(text, "s.yaml")
    assert doc.position(("desired", "Study", "DICOM", "X")) == SourcePos("s.yaml", 6, 7)
    assert doc.position(("desired", "Study", "DICOM", "X", "0", "Y")) == SourcePos("s.yaml", 6, 7)
    assert doc.position(("nowhere",)) == SourcePos("s.yaml", 1, 1)
