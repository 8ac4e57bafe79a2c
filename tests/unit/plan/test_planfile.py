"""Saved plans: round trip, mode 0600, digest check, versioned format, S3 not yet."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pytest

from reconciler.errors import PlanFileError
from reconciler.plan.model import Change, ImageSetPlan, Plan, UpdateRequest
from reconciler.plan.planfile import load_plan, save_plan


def sample_plan() -> Plan:
    isp = ImageSetPlan(
        "d" * 32, "i" * 32, "3", "update", force=True,
        changes=(Change("change", ("Patient", "DICOM", "PatientName"), "A^B", "C^D"),),
        requests=(UpdateRequest(b'{"SchemaVersion":1.1}', None, True),),
        sources=("specs/a.yaml:1",), desired={"Patient": {"DICOM": {"PatientName": "C^D"}}}, study="1.2",
    )
    return Plan((isp,), spec_digest="ab" * 32, meta={"created_at": 1.5})


def test_round_trip_keeps_requests_versions_and_desired(tmp_path: Path) -> None:
    path = str(tmp_path / "p.plan")
    save_plan(sample_plan(), path)
    loaded = load_plan(path)
    assert loaded == sample_plan()
    assert loaded.image_sets[0].desired == {"Patient": {"DICOM": {"PatientName": "C^D"}}}


def test_file_mode_is_0600_even_when_it_existed(tmp_path: Path) -> None:
    path = tmp_path / "p.plan"
    path.write_text("old")
    os.chmod(path, 0o644)
    save_plan(sample_plan(), str(path))
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda d: d["image_sets"][0].update(versionId="4"), "digest"),
        (lambda d: d.update(format_version=99), "format version"),
        (lambda d: d.update(format="other"), "not a saved plan"),
    ],
)
def test_tampered_or_foreign_files_are_refused(tmp_path: Path, edit, message: str) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "p.plan"
    save_plan(sample_plan(), str(path))
    data = json.loads(path.read_text())
    edit(data)
    path.write_text(json.dumps(data))
    with pytest.raises(PlanFileError, match=message):
        load_plan(str(path))


def test_not_json_is_a_plan_file_error(tmp_path: Path) -> None:
    path = tmp_path / "p.plan"
    path.write_bytes(b"\x00garbage")
    with pytest.raises(PlanFileError, match=r"p\.plan"):
        load_plan(str(path))


def test_s3_urls_are_not_supported_yet() -> None:
    with pytest.raises(PlanFileError, match="not supported yet"):
        save_plan(sample_plan(), "s3://bucket/key")
