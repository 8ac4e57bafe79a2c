"""The ls renderer: the search summary's DICOM tags are shown by the PS3.15 Annex E rule of the attribute
they hold, and a tag the renderer does not know is redacted (fail closed)."""

from __future__ import annotations

from reconciler.api import ImageSetInfo
from reconciler.plan.inventory import ImageSetRow, count_nodes
from reconciler.render.listing import listing_json, listing_lines, redacted_tags
from reconciler.render.redact import Redactor

TAGS = {"DICOMPatientName": "QQ^SECRET", "DICOMSeriesModality": "CT", "DICOMSeriesBodyPart": "HEAD",
        "DICOMNumberOfStudyRelatedSeries": 3, "DICOMSomethingNew": "QQNEW"}


def test_patient_tags_are_redacted_and_the_rest_shown() -> None:
    shown = redacted_tags(TAGS, Redactor(key=b"k"))
    assert shown["DICOMPatientName"].startswith("<redacted:")
    assert shown["DICOMSomethingNew"].startswith("<redacted:")  # unknown: treated as patient data
    assert (shown["DICOMSeriesModality"], shown["DICOMSeriesBodyPart"]) == ("CT", "HEAD")
    assert "DICOMNumberOfStudyRelatedSeries" not in shown  # it is the series column
    assert redacted_tags(TAGS, Redactor(show_phi=True))["DICOMPatientName"] == "QQ^SECRET"


def test_table_columns_and_unknown_values() -> None:
    row = ImageSetRow(ImageSetInfo("d" * 32, "a" * 32, "7", "ACTIVE"), None, None, TAGS)
    lines = listing_lines("d" * 32, [row], Redactor(), counted=False)
    assert lines[2].split()[-2:] == ["body", "part"]
    assert lines[3].split() == ["a" * 32, "7", "ACTIVE", "-", "-", "-", "-", "CT", "HEAD"]
    assert "QQ" not in "\n".join(lines)
    assert listing_json("d" * 32, [row], Redactor(), counted=True)["countsFrom"] == "metadata"


def test_count_nodes() -> None:
    doc = {"Study": {"Series": {"1": {"Instances": {"a": {}, "b": {}}}, "2": {"Instances": {}}, "3": {}}}}
    assert count_nodes(doc) == (3, 2)
    assert count_nodes({}) == (0, 0)
