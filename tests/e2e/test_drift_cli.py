"""`reconciler drift` end to end: exit 0 in sync, 2 on drift, 1 on error; formats."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.support.planenv import CHANGE, FORBIDDEN, IN_SYNC, SECRET, run, seed_env, write


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    return seed_env(tmp_path, monkeypatch)


@pytest.mark.parametrize(("spec", "code"), [(IN_SYNC, 0), (CHANGE, 2), (FORBIDDEN, 1)])
def test_drift_exit_codes(env: Path, spec: str, code: int) -> None:
    assert run("drift", write(env, spec))[0] == code


def test_drift_text_says_in_sync(env: Path) -> None:
    assert "In sync: no drift." in run("drift", write(env, IN_SYNC))[1]


@pytest.mark.parametrize("fmt", ["json", "markdown"])
def test_drift_report_formats_redact(env: Path, fmt: str) -> None:
    code, out, _ = run("drift", write(env, CHANGE), "--format", fmt)
    assert code == 2 and SECRET not in out
    if fmt == "json":
        assert json.loads(out)["summary"]["to_update"] == 1
    else:
        assert out.startswith("### Drift report")
