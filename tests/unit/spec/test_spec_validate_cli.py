"""`reconciler validate` end to end through cli.main: formats, count line, exit codes, limits."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

from reconciler.cli import main
from reconciler.commands._common import Streams

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def _run(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = main(["validate", *argv], Streams(out=out, err=err, inp=None))
    return code, out.getvalue(), err.getvalue()


def test_valid_folder_exits_0_with_a_count() -> None:
    code, out, _ = _run(str(EXAMPLES / "valid"))
    assert code == 0
    assert out.splitlines()[-1].startswith(f"{len(list((EXAMPLES / 'valid').glob('*.yaml')))} files valid")


def test_invalid_file_lists_every_error_then_a_count() -> None:
    path = EXAMPLES / "invalid" / "misspelt_keys.yaml"
    code, out, _ = _run(str(path))
    lines = out.splitlines()
    assert code == 1
    # each misspelt key once, with the key it resembles; no "missing required key" for the same mistake
    assert lines == [
        f"{path}:5:1: apiversion: unknown key `apiversion`; did you mean `apiVersion`?",
        f"{path}:8:3: target.datastoreID: unknown key `datastoreID`; did you mean `datastoreId`?",
        f"{path}:9:3: target.imageSetID: unknown key `imageSetID`; did you mean `imageSetId`?",
        f"{path}:10:1: desire: unknown key `desire`; did you mean `desired`?",
        "4 error(s), 0 warning(s) in 1 file: invalid",
    ]


def test_an_unknown_key_without_a_near_miss_lists_the_expected_ones(tmp_path: Path) -> None:
    spec = tmp_path / "s.yaml"
    spec.write_text("apiVersion: reconciler/v1\nkind: ImageSetMetadata\nzzz: 1\n")
    code, out, _ = _run(str(spec))
    assert code == 1
    assert (f"{spec}:3:1: zzz: unknown key `zzz` (expected: apiVersion, desired, force, kind, replace, studyWide, "
            "target)") in out


def test_warnings_are_labelled_and_do_not_fail() -> None:
    code, out, _ = _run(str(EXAMPLES / "valid" / "seed6_private_tag_update.yaml"))
    assert code == 0 and ": warning: private tag without a VR" in out


def test_json_format_is_a_list_of_diagnostics() -> None:
    path = EXAMPLES / "invalid" / "keyword_typo.yaml"
    code, out, _ = _run(str(path), "--format", "json")
    assert code == 1
    assert json.loads(out) == [{
        "file": str(path), "line": 10, "column": 7, "path": ["desired", "Patient", "DICOM", "PatientNmae"],
        "message": "unknown DICOM keyword `PatientNmae`; did you mean `PatientName`?", "severity": "error",
    }]


def test_json_format_of_a_valid_file_is_an_empty_list() -> None:
    code, out, _ = _run(str(EXAMPLES / "valid" / "seed1_patient_name_update.yaml"), "--format", "json")
    assert (code, json.loads(out)) == (0, [])


@pytest.mark.parametrize("kind", ["billion-laughs", "50MB", "latin-1", "missing"])
def test_unloadable_files_exit_1(tmp_path: Path, kind: str) -> None:
    path = tmp_path / "x.yaml"
    if kind == "billion-laughs":
        path.write_text((EXAMPLES / "invalid" / "billion_laughs.yaml").read_text())
    elif kind == "50MB":
        with open(path, "wb") as fh:
            fh.truncate(50 * 1024 * 1024)
    elif kind == "latin-1":
        path.write_bytes(b"apiVersion: caf\xe9\n")
    code, out, err = _run(str(path))
    assert code == 1 and err == "" and "1 error(s)" in out
