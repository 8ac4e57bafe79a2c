"""`make demo` (reconciler.demo): seeds a fresh store from pydicom's files, then validate, plan, apply, plan."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from reconciler import demo

SPECS = Path(__file__).resolve().parents[2] / "specs"


def _run(store: Path, specs: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[int, str, str]:
    monkeypatch.setenv("RECONCILER_DEMO_STORE", str(store))
    out, err = io.StringIO(), io.StringIO()
    code = demo.main([str(specs)], out=out, err=err)
    return code, out.getvalue(), err.getvalue()


def test_demo_without_specs_seeds_and_shows(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "empty").mkdir()
    code, out, err = _run(tmp_path / "store", tmp_path / "empty", monkeypatch)
    assert (code, err) == (0, "")
    assert out.startswith("Seeded ")
    # the table `reconciler ls` prints (one renderer for both), with non-identifying columns only
    assert f"$ reconciler ls --datastore-id {demo.DEMO_DATASTORE}" in out
    assert f"Datastore {demo.DEMO_DATASTORE}: 29 image sets" in out
    header = next(line for line in out.splitlines() if "image set ID" in line)
    assert header.split() == ["image", "set", "ID", "version", "state", "primary", "storage", "tier", "series",
                              "instances", "modality", "body", "part"]
    assert "  28845c224e27535cc95af026baac871b        1  ACTIVE  no       FREQUENT_ACCESS       1          4  CT" in out
    assert "nothing to plan" in out


def test_demo_plans_applies_and_converges(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    code, out, err = _run(tmp_path / "store", SPECS, monkeypatch)
    assert code == 0, err
    plans = out.split("$ reconciler plan")
    assert len(plans) == 3  # before and after apply
    assert "to update" in plans[1] and "(exit code 2)" in plans[1]
    assert "$ reconciler apply" in out
    assert "No changes" in plans[2] or "0 to update" in plans[2]
    assert "(exit code 0)" in plans[2]


@pytest.mark.slow
def test_demo_starts_fresh_every_run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    first = _run(tmp_path / "store", SPECS, monkeypatch)
    second = _run(tmp_path / "store", SPECS, monkeypatch)
    assert first[0] == second[0] == 0
    assert first[1].splitlines()[:40] == second[1].splitlines()[:40]  # same seed, same first plan


def test_demo_prints_no_patient_names(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _code, out, _err = _run(tmp_path / "store", SPECS, monkeypatch)
    assert "CompressedSamples" not in out  # PatientName of CT_small.dcm
