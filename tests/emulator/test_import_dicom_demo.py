"""`make demo` (reconciler.demo): seeds once from pydicom's bundled files, then reuses the store."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from reconciler import demo


def _run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[int, str]:
    monkeypatch.setenv("RECONCILER_LOCAL", str(tmp_path / "store"))
    (tmp_path / "specs").mkdir(exist_ok=True)
    out, err = io.StringIO(), io.StringIO()
    code = demo.main([str(tmp_path / "specs")], out=out, err=err)
    assert err.getvalue() == ""
    return code, out.getvalue()


def test_demo_seeds_then_reuses(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    code, first = _run(tmp_path, monkeypatch)
    assert code == 0
    assert first.startswith("Seeded ")
    assert f"Datastore {demo.DEMO_DATASTORE}" in first
    assert "Modality=CT" in first

    code, second = _run(tmp_path, monkeypatch)
    assert code == 0
    assert second.startswith("Reusing the seeded store")
    assert second.splitlines()[2:] == first.splitlines()[2:]  # same image sets, same versions


def test_demo_prints_no_patient_names(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _code, out = _run(tmp_path, monkeypatch)
    assert "CompressedSamples" not in out  # PatientName of CT_small.dcm
