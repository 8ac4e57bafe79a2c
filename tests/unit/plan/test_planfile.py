"""Saved plans: round trip (local file and S3), mode 0600, digest check, versioned format, the backend."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import stat
from pathlib import Path
from typing import Any

import pytest

from reconciler.api import BackendIdentity
from reconciler.errors import PlanFileError
from reconciler.persist import S3Object, Storage
from reconciler.plan.model import Change, ImageSetPlan, Move, Plan, StudyMember, UpdateRequest
from reconciler.plan.planfile import check_backend, load_plan, save_plan
from reconciler.plan.runinfo import RunInfo

LOCAL_A = BackendIdentity("local", "/stores/a")


def sample_plan() -> Plan:
    isp = ImageSetPlan(
        "d" * 32, "i" * 32, "3", "update", force=True,
        changes=(Change("change", ("Patient", "DICOM", "PatientName"), "A^B", "C^D"),),
        requests=(UpdateRequest(b'{"SchemaVersion":1.1}', None, True),),
        sources=("specs/a.yaml:1",), desired={"Patient": {"DICOM": {"PatientName": "C^D"}}}, study="1.2",
    )
    return Plan((isp,), spec_digest="ab" * 32, run=RunInfo(created_at=1.5), backend=LOCAL_A)


def test_round_trip_keeps_requests_versions_and_desired(tmp_path: Path) -> None:
    path = str(tmp_path / "p.plan")
    save_plan(sample_plan(), path, Storage())
    loaded = load_plan(path, Storage())[0]
    assert loaded == sample_plan()
    assert loaded.image_sets[0].desired == {"Patient": {"DICOM": {"PatientName": "C^D"}}}


def test_round_trip_keeps_study_wide_requests_members_and_moves(tmp_path: Path) -> None:
    """What apply needs for a study-wide request and a moved node survives a saved plan."""
    owner = dataclasses.replace(
        sample_plan().image_sets[0], is_primary=True,
        requests=(UpdateRequest(b'{"SchemaVersion":1.1}', None, False, study=True),
                  UpdateRequest(None, b'{"SchemaVersion":1.1}', False)),
        study_members=(StudyMember("m" * 32, "7"),),
        moves=(Move(("Study", "Series", "1.2"), ("Study", "Series", "1.3")),),
    )
    member = ImageSetPlan("d" * 32, "m" * 32, "7", "update", is_primary=True, study_owner="i" * 32)
    plan = Plan((owner, member), spec_digest="ab" * 32, run=RunInfo(created_at=1.5), backend=LOCAL_A)
    path = str(tmp_path / "p.plan")
    save_plan(plan, path, Storage())
    loaded = load_plan(path, Storage())[0]
    assert loaded == plan
    assert [r.study for r in loaded.image_sets[0].requests] == [True, False]
    assert loaded.image_sets[0].study_requests == 1


def test_file_mode_is_0600_even_when_it_existed(tmp_path: Path) -> None:
    path = tmp_path / "p.plan"
    path.write_text("old")
    os.chmod(path, 0o644)
    save_plan(sample_plan(), str(path), Storage())
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
    save_plan(sample_plan(), str(path), Storage())
    data = json.loads(path.read_text())
    edit(data)
    path.write_text(json.dumps(data))
    with pytest.raises(PlanFileError, match=message):
        load_plan(str(path), Storage())[0]


def test_not_json_is_a_plan_file_error(tmp_path: Path) -> None:
    path = tmp_path / "p.plan"
    path.write_bytes(b"\x00garbage")
    with pytest.raises(PlanFileError, match=r"p\.plan"):
        load_plan(str(path), Storage())[0]


class FakeS3:
    """Stands in for ``reconciler.client.s3.S3``: keeps the objects put, answers them back."""

    def __init__(self) -> None:
        self.objects: dict[str, S3Object] = {}

    def put(self, url: str, bucket: str, key: str, data: bytes, **kwargs: Any) -> str:
        etag = hashlib.md5(data).hexdigest()
        self.objects[url] = S3Object(data, etag, dict(kwargs["metadata"]), kwargs["encryption"])
        return etag

    def get(self, url: str, bucket: str, key: str) -> S3Object:
        return self.objects[url]


def test_s3_plans_are_saved_and_read_in_the_same_place(tmp_path: Path) -> None:
    """planfile opens both kinds of location: an S3 plan round-trips like a local one, its ETag kept."""
    s3 = FakeS3()
    storage = Storage(lambda: s3)
    etag = save_plan(sample_plan(), "s3://plans/pr-1.json", storage)
    loaded, loaded_etag = load_plan("s3://plans/pr-1.json", storage)
    assert loaded == sample_plan() and loaded_etag == etag and loaded.backend == LOCAL_A
    local = tmp_path / "p.plan"
    save_plan(sample_plan(), str(local), Storage())
    assert local.read_bytes() == s3.objects["s3://plans/pr-1.json"].body


@pytest.mark.parametrize(
    ("current", "refused"),
    [
        (LOCAL_A, None),
        (BackendIdentity("local", "/stores/b"), "made against the local emulator store /stores/a, but this apply "
                                                "would run against the local emulator store /stores/b"),
        (BackendIdentity("endpoint", "http://127.0.0.1:4566"), "against the endpoint http://127.0.0.1:4566"),
        (BackendIdentity("aws", "us-east-1", "123456789012"), "against AWS account 123456789012 in us-east-1"),
    ],
)
def test_a_plan_is_applied_only_where_it_was_made(current: BackendIdentity, refused: str | None) -> None:
    if refused is None:
        check_backend(sample_plan(), current, "p.plan")
        return
    with pytest.raises(PlanFileError, match="refused, nothing was sent") as err:
        check_backend(sample_plan(), current, "p.plan")
    assert refused in str(err.value)


def test_a_plan_without_its_backend_is_refused(tmp_path: Path) -> None:
    path = str(tmp_path / "p.plan")
    save_plan(dataclasses.replace(sample_plan(), backend=None), path, Storage())
    with pytest.raises(PlanFileError, match="does not record the backend"):
        check_backend(load_plan(path, Storage())[0], LOCAL_A, path)


def test_a_version_1_plan_is_refused_with_a_hint(tmp_path: Path) -> None:
    """Version 1 recorded no backend: such a plan is planned again, not guessed at."""
    path = tmp_path / "p.plan"
    save_plan(sample_plan(), str(path), Storage())
    data = json.loads(path.read_text())
    data["format_version"] = 1
    path.write_text(json.dumps(data))
    with pytest.raises(PlanFileError, match="format version 1 is not supported") as err:
        load_plan(str(path), Storage())[0]
    assert "plan --out" in str(err.value)


FINGERPRINTS = {hashlib.sha256(b'"A^B"').hexdigest(): "1a2b3c4d", hashlib.sha256(b'"C^D"').hexdigest(): "5e6f7a8b"}


def test_the_fingerprints_and_each_changes_source_are_kept(tmp_path: Path) -> None:
    path = str(tmp_path / "p.plan")
    (isp,) = sample_plan().image_sets
    sourced = dataclasses.replace(isp, changes=(dataclasses.replace(isp.changes[0], source="specs/a.yaml:9"),))
    save_plan(dataclasses.replace(sample_plan(), image_sets=(sourced,), fingerprints=FINGERPRINTS), path, Storage())
    loaded = load_plan(path, Storage())[0]
    assert loaded.fingerprints == FINGERPRINTS
    assert loaded.image_sets[0].changes[0].source == "specs/a.yaml:9"


def test_changed_fingerprints_fail_the_digest(tmp_path: Path) -> None:
    path = tmp_path / "p.plan"
    save_plan(dataclasses.replace(sample_plan(), fingerprints=FINGERPRINTS), str(path), Storage())
    raw = json.loads(path.read_text())
    raw["fingerprints"][next(iter(FINGERPRINTS))] = "00000000"  # a reviewer shown other hashes than saved
    path.write_text(json.dumps(raw))
    with pytest.raises(PlanFileError, match="digest does not match"):
        load_plan(str(path), Storage())[0]


@pytest.mark.parametrize("bad", [["1a2b3c4d"], {"not-a-digest": "1a2b3c4d"}, {"0" * 64: "<redacted:1a2b3c4d>"}])
def test_malformed_fingerprints_are_refused(tmp_path: Path, bad: Any) -> None:
    path = tmp_path / "p.plan"
    save_plan(sample_plan(), str(path), Storage())
    raw = json.loads(path.read_text())
    raw.pop("plan_digest")
    raw["fingerprints"] = bad
    canonical = json.dumps(raw, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()
    path.write_text(json.dumps({**raw, "plan_digest": hashlib.sha256(canonical).hexdigest()}))
    with pytest.raises(PlanFileError, match="malformed plan"):
        load_plan(str(path), Storage())[0]


def test_a_plan_saved_without_fingerprints_still_loads(tmp_path: Path) -> None:
    path = tmp_path / "p.plan"
    save_plan(sample_plan(), str(path), Storage())
    raw = json.loads(path.read_text())
    raw.pop("plan_digest")
    raw.pop("fingerprints")
    canonical = json.dumps(raw, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()
    path.write_text(json.dumps({**raw, "plan_digest": hashlib.sha256(canonical).hexdigest()}))
    assert load_plan(str(path), Storage())[0].fingerprints == {}


def test_round_trip_keeps_the_typed_run_fields_the_spec_files_and_the_endpoint_region(tmp_path: Path) -> None:
    """What used to live in a free-form dict: each field survives a saved plan with its type."""
    from reconciler.plan.binding import SpecBinding, SpecFile
    from reconciler.plan.runinfo import Retarget, StateInfo

    specs = SpecBinding((SpecFile("specs/a.yaml", "f" * 64),), ("specs",), ("specs",), "c" * 40, True)
    endpoint = BackendIdentity("endpoint", "http://127.0.0.1:4566", region="eu-west-2")
    plan = dataclasses.replace(
        sample_plan(), backend=endpoint, specs=specs, run=RunInfo(created_at=2.5, incremental=True),
        retargets=(Retarget("specs/a.yaml:4", "d" * 32, "i" * 32),),
        state=StateInfo("s3://b/state.jsonl", "used", None, 3))
    path = str(tmp_path / "p.plan")
    save_plan(plan, path, Storage())
    loaded, etag = load_plan(path, Storage())
    assert etag is None  # a local file has none
    assert (loaded.specs, loaded.run, loaded.retargets, loaded.state) == (plan.specs, plan.run, plan.retargets,
                                                                          plan.state)
    assert loaded.backend == endpoint and loaded.backend is not None and loaded.backend.region == "eu-west-2"
