"""Hostile spec files through `reconciler validate` and `plan`: shapes the text-level fuzz test
(tests/unit/spec/test_spec_fuzz.py) does not reach, because they live in bytes and files: non-UTF-8,
BOMs, NUL bytes, deep nesting, YAML language tags, huge files. Each gets its own verdict (exit 1 with the
finding that names the file, or exit 0), never a traceback.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.support.relenv import run_inprocess

HEAD = b"apiVersion: reconciler/v1\nkind: ImageSetMetadata\ntarget:\n  datastoreId: " + b"1" * 32 + \
    b"\n  imageSetId: " + b"a" * 32 + b"\ndesired:\n"
HOSTILE = {
    "latin1": HEAD + b"  Patient:\n    DICOM:\n      PatientName: M\xfcller\n",
    "utf16": (HEAD.decode() + "  Patient: {}\n").encode("utf-16"),
    "bom": b"\xef\xbb\xbf" + HEAD + b"  Patient: {}\n",
    "nul": HEAD + b"  Patient:\n    DICOM:\n      PatientName: A\x00B\n",
    "deep_flow": HEAD + b"  Patient: " + b"[" * 5000 + b"]" * 5000 + b"\n",
    "deep_block": HEAD + b"".join(b"  " * (i + 1) + b"k:\n" for i in range(600)),
    "python_tag": HEAD + b"  Patient: !!python/object/apply:os.system ['echo pwned']\n",
    "custom_tag": HEAD + b"  Patient: !Ref x\n",
    "binary_tag": HEAD + b"  Patient: !!binary AAAA\n",
    "alias_loop": HEAD + b"  Patient: &a [*a]\n",
    "merge_keys": HEAD + b"  base: &b {DICOM: {PatientName: X}}\n  Patient:\n    <<: *b\n",
    "huge_value": HEAD + b"  Patient:\n    DICOM:\n      PatientName: " + b"A" * 3_000_000 + b"\n",
    "many_docs": (HEAD + b"  Patient: {}\n---\n") * 300,
    "control_chars": HEAD + b"  Patient:\n    DICOM:\n      PatientName: \x1b[31mred\x07\n",
    "surrogates": HEAD + b"  Patient:\n    DICOM:\n      PatientName: \"\\ud800\"\n",
    "tabs": HEAD.replace(b"  ", b"\t"),
    "empty": b"",
    "only_comments": b"# nothing\n",
}
# name -> (exit code, what the report says); "nesting" covers PyYAML's and our own depth messages
VERDICT = {
    "latin1": (1, "not valid UTF-8"),
    "utf16": (1, "not valid UTF-8"),
    "bom": (0, "1 file valid"),
    "nul": (1, "invalid YAML"),
    "deep_flow": (1, "nesting"),
    "deep_block": (1, "nesting"),
    "python_tag": (1, "YAML tags"),
    "custom_tag": (1, "YAML tags"),
    "binary_tag": (1, "YAML tags"),
    "alias_loop": (1, "alias"),
    "merge_keys": (1, "merge keys"),
    "huge_value": (1, "longer than 64 characters"),
    "many_docs": (0, "1 file valid"),
    "control_chars": (1, "invalid YAML"),
    "surrogates": (1, "invalid YAML"),
    "tabs": (1, "invalid YAML"),
    "empty": (0, "no spec documents"),
    "only_comments": (0, "no spec documents"),
}


def test_every_hostile_file_has_a_verdict() -> None:
    assert set(VERDICT) == set(HOSTILE)


@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_hostile_spec_files_are_diagnosed_not_crashed(tmp_path: Path, name: str) -> None:
    spec = tmp_path / f"{name}.yaml"
    spec.write_bytes(HOSTILE[name])
    code, out, err = run_inprocess("validate", str(spec))
    expected_code, says = VERDICT[name]
    assert (code, err) == (expected_code, "") and says in out
    assert "Traceback" not in out and "pwned" not in out
    if code == 1:
        assert str(spec) in out
    assert len(out) < 20_000  # a huge value is not echoed back


def test_a_hostile_spec_stops_plan_before_anything_is_sent(tmp_path: Path) -> None:
    (tmp_path / "specs").mkdir()
    (tmp_path / "specs" / "bad.yaml").write_bytes(HOSTILE["python_tag"])
    code, out, err = run_inprocess("plan", str(tmp_path / "specs"), "--endpoint-url", "http://127.0.0.1:9")
    assert code == 1
    assert "cannot reach" not in err and "bad.yaml" in out + err


@settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck))
@given(st.binary(max_size=400), st.sampled_from([b"", HEAD, HEAD + b"  Patient:\n"]))
def test_arbitrary_bytes_in_a_spec_file(tmp_path_factory: pytest.TempPathFactory, tail: bytes, head: bytes) -> None:
    spec = tmp_path_factory.mktemp("b") / "fuzz.yaml"
    spec.write_bytes(head + tail)
    code, out, err = run_inprocess("validate", "--format", "json", str(spec))
    assert "Traceback" not in out + err and err == ""
    findings = json.loads(out)  # whatever the bytes, the report is one JSON document of findings
    assert code == (1 if any(f["severity"] == "error" for f in findings) else 0)
    assert all(f["file"] == str(spec) for f in findings)
