"""Acceptance: tests/examples/valid and invalid, run by one parametrised test; specs/ validates;
no message ever holds a patient value (the invalid examples seed the marker ``ZZPHI``)."""

from __future__ import annotations

import filecmp
import re
from pathlib import Path

import pytest
import yaml

from reconciler.spec import validate_paths

ROOT = Path(__file__).resolve().parents[3]
EXAMPLES = ROOT / "tests" / "examples"
VALID = sorted((EXAMPLES / "valid").glob("*.yaml"))
INVALID = sorted((EXAMPLES / "invalid").glob("*.yaml"))
SPECS = sorted((ROOT / "specs").rglob("*.y*ml"))
EXPECT_RE = re.compile(r"^# expect: (\d+): (.+)$")
PHI_MARKER = "ZZPHI"


def _expectations(path: Path) -> list[tuple[int, str]]:
    lines = path.read_text("utf-8").splitlines()
    return [(int(m.group(1)), m.group(2)) for line in lines if (m := EXPECT_RE.match(line))]


@pytest.mark.parametrize("path", VALID + SPECS, ids=lambda p: p.name)
def test_valid_example_has_no_errors(path: Path) -> None:
    errors = [d.render() for d in validate_paths([str(path)]) if d.severity == "error"]
    assert errors == []


@pytest.mark.parametrize("path", INVALID, ids=lambda p: p.name)
def test_invalid_example_reports_expected_error(path: Path) -> None:
    expected = _expectations(path)
    assert expected, f"{path.name} declares no `# expect: LINE: message`"
    diags = validate_paths([str(path)])
    errors = {(d.line, d.render()) for d in diags if d.severity == "error"}
    for line, fragment in expected:
        assert any(line == got_line and fragment in msg for got_line, msg in errors), (fragment, errors)


@pytest.mark.parametrize("path", INVALID + VALID, ids=lambda p: p.name)
def test_no_message_holds_a_patient_value(path: Path) -> None:
    for d in validate_paths([str(path)]):
        assert PHI_MARKER not in d.render()


def test_the_whole_valid_folder_is_consistent() -> None:
    assert [d for d in validate_paths([str(EXAMPLES / "valid")]) if d.severity == "error"] == []


def test_schema_copy_for_editors_is_identical() -> None:
    shipped = ROOT / "reconciler" / "schemas" / "spec.schema.json"
    assert filecmp.cmp(shipped, ROOT / "schemas" / "spec.schema.json", shallow=False)


def test_pre_commit_hooks_run_validate() -> None:
    hooks = yaml.safe_load((ROOT / ".pre-commit-hooks.yaml").read_text("utf-8"))
    assert {h["id"] for h in hooks} == {"reconciler-validate", "reconciler-validate-all"}
    assert all(h["entry"] == "reconciler validate" and h["language"] == "python" for h in hooks)


def test_demo_specs_exist() -> None:
    assert SPECS, "specs/ holds the demo specs"
