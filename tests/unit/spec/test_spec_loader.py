"""Layer 1: every typing trap keeps the exact string; limits; positions; several documents."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from reconciler.spec import yamlnodes
from reconciler.spec.loader import MAX_FILE_BYTES, load_file, load_text
from reconciler.spec.yamlnodes import NodeError, compose

HEAD = """apiVersion: reconciler/v1
kind: ImageSetMetadata
target:
  datastoreId: {ds}
  imageSetId: ea92b0d8838c72a3f25d00d13616f87e
{force}desired:
{body}"""


def _load(body: str, ds: str = "12345678901234567890123456789012", force: str = "") -> dict[str, Any]:
    docs, diags = load_text(HEAD.format(ds=ds, force=force, body=body), "t.yaml")
    assert diags == [] and len(docs) == 1 and docs[0].problems == []
    value: dict[str, Any] = docs[0].value
    return value


def _instance(dicom: str, vrs: str = "") -> dict[str, Any]:
    body = (
        "  Study:\n    Series:\n      1.2.3:\n        Instances:\n          1.2.3.4:\n"
        f"            DICOM:\n{dicom}{vrs}"
    )
    inst: dict[str, Any] = _load(body)["desired"]["Study"]["Series"]["1.2.3"]["Instances"]["1.2.3.4"]
    return inst


@pytest.mark.parametrize(
    ("line", "key", "expected"),
    [
        ("StudyDate: 20240101", "StudyDate", "20240101"),
        ("StudyTime: 101010", "StudyTime", "101010"),
        ("StudyTime: 083501", "StudyTime", "083501"),
        ("StudyDescription: 1.10", "StudyDescription", "1.10"),
        ("PatientAge: 045Y", "PatientAge", "045Y"),
        ("AccessionNumber: 1e3", "AccessionNumber", "1e3"),
        ("AccessionNumber: 0x1F", "AccessionNumber", "0x1F"),
        ("AccessionNumber: 1_000", "AccessionNumber", "1_000"),
        ("AccessionNumber: 12:30:00", "AccessionNumber", "12:30:00"),
        ("AccessionNumber: 2024-01-01", "AccessionNumber", "2024-01-01"),
        ("AccessionNumber: .inf", "AccessionNumber", ".inf"),
        ("AccessionNumber: on", "AccessionNumber", "on"),
        ("AccessionNumber: 'yes'", "AccessionNumber", "yes"),
        ("AccessionNumber: null", "AccessionNumber", None),
        ("AccessionNumber: ~", "AccessionNumber", None),
        ("AccessionNumber:", "AccessionNumber", None),
        ("AccessionNumber: 'null'", "AccessionNumber", "null"),
    ],
)
def test_study_scalars_stay_as_written(line: str, key: str, expected: Any) -> None:
    assert _load(f"  Study:\n    DICOM:\n      {line}\n")["desired"]["Study"]["DICOM"][key] == expected


@pytest.mark.parametrize(("line", "expected"), [("PatientSex: no", "no"), ("PatientSex: N", "N"),
                                                ("PatientSex: Off", "Off"), ("PatientSex: TRUE", "TRUE")])
def test_patient_sex_no_stays_a_string(line: str, expected: str) -> None:
    assert _load(f"  Patient:\n    DICOM:\n      {line}\n")["desired"]["Patient"]["DICOM"]["PatientSex"] == expected


def test_slice_thickness_keeps_its_trailing_zero() -> None:
    assert _instance("              SliceThickness: 1.10\n")["DICOM"]["SliceThickness"] == "1.10"


def test_multi_valued_decimal_strings_stay_strings() -> None:
    assert _instance("              PixelSpacing: [0.5, 0.50]\n")["DICOM"]["PixelSpacing"] == ["0.5", "0.50"]


def test_all_digit_datastore_id_stays_a_string() -> None:
    assert _load("  {}\n", ds="00000000000000000000000000000012")["target"]["datastoreId"] == (
        "00000000000000000000000000000012"
    )


def test_private_tag_key_stays_a_string() -> None:
    inst = _instance("              00111001: x\n", "            DICOMVRs:\n              00111001: LO\n")
    assert list(inst["DICOM"]) == ["00111001"] and inst["DICOM"]["00111001"] == "x"
    assert inst["DICOMVRs"] == {"00111001": "LO"}


@pytest.mark.parametrize(
    ("line", "vrs", "expected"),
    [
        ("Rows: 512", "", 512),
        ("Rows: '512'", "", "512"),
        ("Rows: 0x10", "", "0x10"),
        ("LUTDescriptor: [4096, 0, 12]", "", [4096, 0, 12]),
        ("00291010: 7", "            DICOMVRs: {00291010: US}\n", 7),
        ("00291010: 2.5", "            DICOMVRs: {00291010: FD}\n", 2.5),
        ("00291010: 7", "            DICOMVRs: {00291010: IS}\n", "7"),
        ("00291010: 7", "", "7"),
    ],
)
def test_binary_numeric_vrs_become_numbers(line: str, vrs: str, expected: Any) -> None:
    inst = _instance(f"              {line}\n", vrs)
    assert inst["DICOM"][line.split(":")[0]] == expected


@pytest.mark.parametrize(("text", "expected"), [("true", True), ("false", False), ("yes", "yes"), ("1", "1")])
def test_force_is_a_bool_only_for_true_false(text: str, expected: Any) -> None:
    assert _load("  {}\n", force=f"force: {text}\n")["force"] == expected


def test_positions_are_of_keys_and_1_based() -> None:
    docs, _ = load_text(HEAD.format(ds="1" * 32, force="", body="  Patient:\n    DICOM:\n      PatientName: A\n"), "f")
    pos = docs[0].positions[("desired", "Patient", "DICOM", "PatientName")]
    assert (pos.file, pos.line, pos.column) == ("f", 9, 7)


def test_several_documents_with_their_start_lines() -> None:
    docs, diags = load_text("a: 1\n---\nb: 2\n---\n", "f")
    assert diags == [] and [(d.index, d.line, d.value) for d in docs] == [(0, 1, {"a": "1"}), (1, 2, {"b": "2"})]


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("a: 1\na: 2\n", "duplicate key (first written at line 1)"),
        ("<<: {a: 1}\n", "merge keys"),
        ("? [a]\n: 1\n", "mapping keys must be plain text"),
    ],
)
def test_document_problems(text: str, fragment: str) -> None:
    docs, _ = load_text(text, "f")
    assert any(fragment in p.message for p in docs[0].problems)


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("a: &a [*a]\n", "unknown or unfinished anchor"),
        ("a: *nope\n", "unknown or unfinished anchor"),
        ("a: !!python/object:os.system x\n", "YAML tags"),
        ("a: !!int 5\n", "YAML tags"),
        ("[" * 100 + "]" * 100, "nesting deeper"),
        ("[" * 200_000 + "]" * 200_000, "nesting deeper"),
        ("a: [1\n", "invalid YAML"),
        ("a: 'x\n", "invalid YAML"),
        ("a:\tb: c\n\t- x", "invalid YAML"),
    ],
)
def test_refused_text(text: str, fragment: str) -> None:
    docs, diags = load_text(text, "f")
    assert docs == [] and len(diags) == 1 and fragment in diags[0].message


@pytest.mark.parametrize(
    ("text", "line", "column", "fragment"),
    [
        # PyYAML notices an unclosed quote only at the end: the message points at the opening quote
        ("a: 1\nb: 'x\nc: 2\nd: 3\n", 2, 4, "quoted string that starts here is not closed before the end"),
        ('a: "x\nc: 2\n---\nd: 3\n', 1, 4, "not closed before the `---` at line 3"),
        ("a:\n\t- x\n", 2, 1, "a tab character in indentation; YAML indents with spaces"),
        ("a:\n  b: 1\n\t c: 2\n", 3, 1, "a tab character in indentation"),
        ("a: [1,\n  b: 2\n", 3, 1, "(in the [ list opened at line 1)"),
        # a key indented too far: the parser gives up on the line after it
        ("target:\n    datastoreId: x\n  imageSetId: y\n", 3, 3,
         "; check the indentation of this line and of the line above"),
        # a key indented too little
        ("a:\n  b:\n    c: 1\n   d: 2\n", 4, 4, "; check the indentation of this line and of the line above"),
        # an unquoted `: ` in a value, and a key indented deeper than the one above it
        ("a:\n  b: CT: HEAD\n", 2, 8, 'quote a value that holds ": " (key: "a: b")'),
        ("a:\n  b: CT\n    c: 4\n", 3, 6, "mapping values are not allowed"),
        ("a:\n  b: CT\n    c: 4\n", 3, 6, "check the indentation of this line and of the line above"),
    ],
)
@pytest.mark.parametrize("loader", ["CSafeLoader", "SafeLoader"])
def test_syntax_errors_point_where_the_user_must_look(
    text: str, line: int, column: int, fragment: str, loader: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    if not hasattr(yaml, loader):
        pytest.skip(f"PyYAML without {loader}")
    monkeypatch.setattr(yamlnodes, "_Loader", getattr(yaml, loader))
    docs, diags = load_text(text, "f")
    assert docs == [] and len(diags) == 1
    assert (diags[0].line, diags[0].column) == (line, column) and fragment in diags[0].message, diags[0]


def test_billion_laughs_is_refused_before_expansion() -> None:
    lines = ['a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    for prev, name in zip("abcdefghi", "bcdefghij", strict=True):
        lines.append(f"{name}: &{name} [{', '.join(['*' + prev] * 9)}]")
    with pytest.raises(NodeError, match="expands to more than"):
        compose("\n".join(lines))


def test_large_file_refused_without_reading(tmp_path: Path) -> None:
    big = tmp_path / "big.yaml"
    with open(big, "wb") as fh:
        fh.truncate(50 * 1024 * 1024)
    docs, diags = load_file(str(big))
    assert docs == [] and "larger than 5 MB" in diags[0].message
    assert MAX_FILE_BYTES == 5 * 1024 * 1024


def test_non_utf8_points_at_the_byte(tmp_path: Path) -> None:
    bad = tmp_path / "latin1.yaml"
    bad.write_bytes("a: 1\nb: caf\xe9\n".encode("latin-1"))
    docs, diags = load_file(str(bad))
    assert docs == [] and (diags[0].line, diags[0].column) == (2, 7)
    assert "not valid UTF-8" in diags[0].message


def test_utf8_bom_is_accepted(tmp_path: Path) -> None:
    f = tmp_path / "bom.yaml"
    f.write_bytes(b"\xef\xbb\xbfa: 1\n")
    docs, diags = load_file(str(f))
    assert diags == [] and docs[0].value == {"a": "1"}


def test_unreadable_path(tmp_path: Path) -> None:
    docs, diags = load_file(str(tmp_path / "missing.yaml"))
    assert docs == [] and "cannot read" in diags[0].message
