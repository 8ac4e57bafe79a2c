"""levels and dictionary: the normalisation table and pydicom lookups."""

from __future__ import annotations

import pytest

from reconciler.dicom import levels
from reconciler.dicom.dictionary import is_private_tag, is_tag_key, lookup, suggest


@pytest.mark.parametrize(
    ("keyword", "level"),
    [
        ("PatientName", "Patient"),
        ("PatientID", "Patient"),
        ("StudyDescription", "Study"),
        ("PatientAge", "Study"),
        ("PatientWeight", "Study"),
        ("Modality", "Series"),
        ("PatientPosition", "Series"),
        ("FrameOfReferenceUID", "Series"),
        ("SOPInstanceUID", "Instance"),
        ("Rows", "Instance"),
        ("00091001", "Instance"),
        ("NotAKeyword", "Instance"),
    ],
)
def test_level_of(keyword: str, level: str) -> None:
    assert levels.level_of(keyword) == level


def test_level_table_is_data_with_source_and_140_keywords() -> None:
    assert levels.SOURCE.startswith("https://docs.aws.amazon.com/healthimaging/")
    assert sum(len(v) for v in levels.LEVEL_KEYWORDS.values()) == 140
    assert levels.LEVEL_KEYWORDS["Instance"] == frozenset()
    assert all(lookup(k) is not None for v in levels.LEVEL_KEYWORDS.values() for k in v)


@pytest.mark.parametrize(
    ("key", "tag", "keyword", "vr", "vm"),
    [
        ("PatientName", "00100010", "PatientName", "PN", "1"),
        ("00100010", "00100010", "PatientName", "PN", "1"),
        ("0020000d", "0020000D", "StudyInstanceUID", "UI", "1"),
        ("ImageType", "00080008", "ImageType", "CS", "2-n"),
        ("ReferencedImageSequence", "00081140", "ReferencedImageSequence", "SQ", "1"),
    ],
)
def test_lookup(key: str, tag: str, keyword: str, vr: str, vm: str) -> None:
    entry = lookup(key)
    assert entry is not None
    assert (entry.tag, entry.keyword, entry.vr, entry.vm) == (tag, keyword, vr, vm)


@pytest.mark.parametrize("key", ["PatientNmae", "00091001", "", "0010001", "Patient Name"])
def test_lookup_unknown(key: str) -> None:
    assert lookup(key) is None


@pytest.mark.parametrize(
    ("key", "tag", "private"),
    [
        ("00091001", True, True),
        ("001910F9", True, True),
        ("00100010", True, False),
        ("0010001", False, False),
        ("0010001G", False, False),
        ("PatientName", False, False),
    ],
)
def test_tag_keys(key: str, tag: bool, private: bool) -> None:
    assert is_tag_key(key) is tag
    assert is_private_tag(key) is private


@pytest.mark.parametrize(
    ("typo", "expected"),
    [
        ("PatientNmae", "PatientName"),
        ("StudyDescripton", "StudyDescription"),
        ("studydescription", "StudyDescription"),
        ("Modalty", "Modality"),
        ("Qwertyuiop", None),
        ("", None),
    ],
)
def test_suggest(typo: str, expected: str | None) -> None:
    assert suggest(typo) == expected


def test_suggest_among_given_names() -> None:
    """The same near-miss rule serves spec keys (``desire`` -> ``desired``), not only DICOM keywords."""
    keys = ["apiVersion", "kind", "target", "force", "desired"]
    assert suggest("desire", keys) == "desired"
    assert suggest("apiversion", keys) == "apiVersion"
    assert suggest("PatientName", keys) is None
    assert suggest("Modalty", []) is None


def test_the_dictionary_equals_pydicoms_for_every_entry_and_repeating_group() -> None:
    """The tables are read from pydicom's data module without importing pydicom: the same answers as
    pydicom's own get_entry and keyword_dict, for every tag, for repeating groups (60xx overlays,
    50xx curves) and private tags."""
    from pydicom.datadict import DicomDictionary, get_entry, keyword_dict

    from reconciler.dicom.dictionary import lookup

    for tag, (vr, vm, name, retired, keyword) in DicomDictionary.items():
        entry = lookup(f"{tag:08X}")
        assert entry is not None and (entry.vr, entry.vm, entry.name, entry.retired, entry.keyword) == (
            vr, vm, name, retired == "Retired", keyword), hex(tag)
    for keyword, tag in keyword_dict.items():
        if keyword:
            assert lookup(keyword) is not None and lookup(keyword).tag == f"{tag:08X}"  # type: ignore[union-attr]
    for tag in (0x60023000, 0x601E0010, 0x50100005, 0x7F110010, 0x00091001, 0x60013000, 0xFFFFFFFF):
        try:
            expected: tuple[str, ...] | None = get_entry(tag)
        except KeyError:
            expected = None
        entry = lookup(f"{tag:08X}")
        assert (None if entry is None else (entry.vr, entry.vm, entry.name, entry.keyword)) == (
            None if expected is None else (expected[0], expected[1], expected[2], expected[4])), hex(tag)
