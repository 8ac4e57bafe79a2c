"""The shipped JSON Schema is valid Draft 2020-12; Diagnostic rendering and path formatting."""

from __future__ import annotations

import pytest
from jsonschema import Draft202012Validator

from reconciler.spec.model import Diagnostic, format_path
from reconciler.spec.schema import spec_schema


def test_schema_is_valid_draft_2020_12() -> None:
    schema = spec_schema()
    Draft202012Validator.check_schema(schema)
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"


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
