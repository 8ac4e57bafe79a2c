"""`make demo` (reconciler.demo): seeds a fresh store from pydicom's files, then validate, plan, apply, plan."""

from __future__ import annotations

import io
import time
from pathlib import Path

import pytest

from reconciler import demo
from reconciler.emulator.store import Store

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
    assert "  e2e45e5549adab20e30eb34466eb7b86        1  ACTIVE  yes      FREQUENT_ACCESS       1          1  CT" in out
    assert "nothing to plan" in out


def test_demo_seeds_both_kinds(tmp_path: Path) -> None:
    """Primary image sets, as an import makes them, and non-primary ones where the demo specs and the
    tour change what a primary image set refuses."""
    out = io.StringIO()
    demo.seed(str(tmp_path / "store"), out)
    rows = {row.image_set_id: row.is_primary for row, _doc in Store(tmp_path / "store").latest_documents(
        demo.DEMO_DATASTORE, now=time.time())}
    assert {i for i, primary in rows.items() if not primary} == demo.NON_PRIMARY
    assert sum(rows.values()) == len(rows) - len(demo.NON_PRIMARY) > 0
    assert f"{len(rows)} image sets from pydicom's bundled DICOM files, {len(rows) - 3} primary and 3 non-primary" \
        in out.getvalue()


def test_demo_plans_applies_and_converges(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    code, out, err = _run(tmp_path / "store", SPECS, monkeypatch)
    assert code == 0, err
    plans = out.split("$ reconciler plan")
    assert len(plans) == 3  # before and after apply
    assert "to update" in plans[1]
    # the exit code of a plan with changes is explained where the demo shows it
    assert "(exit code 2: changes are pending, which is what --detailed-exitcode reports with 2; not an error)" \
        in plans[1]
    assert "$ reconciler apply" in out
    assert "No changes" in plans[2] or "0 to update" in plans[2]
    assert "(exit code 0)" in plans[2]
    assert "CompressedSamples" not in out  # PatientName of CT_small.dcm: the demo prints no patient names


@pytest.mark.slow
def test_demo_starts_fresh_every_run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    first = _run(tmp_path / "store", SPECS, monkeypatch)
    second = _run(tmp_path / "store", SPECS, monkeypatch)
    assert first[0] == second[0] == 0
    assert first[1].splitlines()[:40] == second[1].splitlines()[:40]  # same seed, same first plan


