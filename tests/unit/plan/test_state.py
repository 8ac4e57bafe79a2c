"""The drift state file: round trip, atomic 0600 writes, keyed digests, and every way a state can be
unusable (corrupt, truncated, edited, another key, another tool version, another backend)."""

from __future__ import annotations

import hashlib
import json
import os
import stat
from pathlib import Path

import pytest

from reconciler.api import BackendIdentity
from reconciler.errors import PlanFileError, UsageError
from reconciler.persist import Storage
from reconciler.plan import state as st
from reconciler.plan.incremental import desired_digest, selector_digest, study_digest
from reconciler.plan.state import DriftState, Entry, OtherBackend, StateKey, key_from_env, load, save

KEY = StateKey(b"a secret of sixteen+ characters")
LOCAL = BackendIdentity("local", "/stores/a")
LOCAL_FILES = Storage()  # local files only: no S3 client
DS = "d" * 32
NAME = "QQSECRET^ZZPATIENT"  # a patient value: it must never be in the file, nor a plain hash of it


def sample() -> DriftState:
    desired = {"Patient": {"DICOM": {"PatientName": NAME}}}
    entries = {(DS, "1" * 32): Entry("3", desired_digest(KEY, desired), 1000.5, None, study_digest(KEY, "1.2.3")),
               (DS, "2" * 32): Entry("7", desired_digest(KEY, {}), 999.0, 1200.25, None)}
    selectors = {selector_digest(KEY, DS, ("DICOMPatientId", "P-123")): (DS, frozenset({"1" * 32, "2" * 32}))}
    return DriftState(LOCAL, entries, {DS: 1500.0}, selectors, written_at=1600.0)


def test_round_trip_keeps_everything(tmp_path: Path) -> None:
    path = tmp_path / "state.jsonl"
    save(sample(), str(path), KEY, LOCAL_FILES)
    loaded = load(str(path), KEY, LOCAL, LOCAL_FILES)
    assert loaded.status == "used" and loaded.state is not None
    assert loaded.state.entries == sample().entries
    assert loaded.state.checked == {DS: 1500.0} and loaded.state.selectors == sample().selectors
    assert loaded.state.checked_at(DS, loaded.state.entries[(DS, "1" * 32)]) == 1500.0
    assert loaded.state.checked_at(DS, loaded.state.entries[(DS, "2" * 32)]) == 1200.25


def test_written_atomically_with_mode_0600(tmp_path: Path) -> None:
    path = tmp_path / "state.jsonl"
    path.write_text("old")
    os.chmod(path, 0o644)
    save(sample(), str(path), KEY, LOCAL_FILES)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert sorted(p.name for p in tmp_path.iterdir()) == ["state.jsonl"]  # no temporary file left behind


def test_a_failed_write_leaves_the_old_state(tmp_path: Path) -> None:
    path = tmp_path / "state.jsonl"
    save(sample(), str(path), KEY, LOCAL_FILES)
    before = path.read_bytes()
    (tmp_path / f".state.jsonl.{os.getpid()}.tmp").mkdir()  # the temporary file cannot be created
    with pytest.raises(PlanFileError, match="cannot write the drift state"):
        save(DriftState(LOCAL), str(path), KEY, LOCAL_FILES)
    assert path.read_bytes() == before


def test_nothing_in_the_file_can_be_checked_against_a_guessed_value(tmp_path: Path) -> None:
    path = tmp_path / "state.jsonl"
    save(sample(), str(path), KEY, LOCAL_FILES)
    text = path.read_text()
    assert NAME not in text and "P-123" not in text and "1.2.3" not in text
    for guess in (NAME, "P-123", "1.2.3", json.dumps({"Patient": {"DICOM": {"PatientName": NAME}}})):
        assert hashlib.sha256(guess.encode()).hexdigest()[:32] not in text
    # the digests depend on the secret: without it they cannot be recomputed
    other = StateKey(b"another secret, also long enough")
    assert desired_digest(other, {"Patient": {"DICOM": {"PatientName": NAME}}}) not in text


def edit_version(path: Path) -> None:
    """Raise a recorded version (as someone hiding drift would) and keep everything else."""
    lines = path.read_text().splitlines()
    lines[2] = lines[2].replace('"3"', '"4"')
    path.write_text("\n".join(lines) + "\n")


def truncate(path: Path) -> None:
    path.write_text("\n".join(path.read_text().splitlines()[:-1]) + "\n")


def garble(path: Path) -> None:
    path.write_bytes(b"\x00\xffnot a state")


def other_key(path: Path) -> None:
    save(sample(), str(path), StateKey(b"another secret, also long enough"), LOCAL_FILES)


def other_version(path: Path) -> None:
    lines = path.read_text().splitlines()
    header = json.loads(lines[0])
    header["tool_version"] = "0.0.1"
    body = [json.dumps(header, separators=(",", ":")), *lines[1:-1]]
    mac = KEY.mac()
    for line in body:
        mac.update(line.encode() + b"\n")
    path.write_text("\n".join([*body, json.dumps(["mac", mac.hexdigest()])]) + "\n")


@pytest.mark.parametrize(("spoil", "problem"), [
    (edit_version, "modified after it was written"),
    (truncate, "truncated"),
    (garble, "not a drift state"),
    (other_key, "another state key"),
    (other_version, "written by reconciler 0.0.1"),
])
def test_an_untrustworthy_state_is_not_used_and_says_why(tmp_path: Path, spoil: object, problem: str) -> None:
    path = tmp_path / "state.jsonl"
    save(sample(), str(path), KEY, LOCAL_FILES)
    spoil(path)  # type: ignore[operator]
    loaded = load(str(path), KEY, LOCAL, LOCAL_FILES)
    assert loaded.state is None and loaded.status == "unusable"
    assert loaded.problem is not None and problem in loaded.problem and str(path) in loaded.problem


def test_a_missing_state_is_no_problem(tmp_path: Path) -> None:
    loaded = load(str(tmp_path / "none.jsonl"), KEY, LOCAL, LOCAL_FILES)
    assert loaded.state is None and loaded.problem is None and loaded.status == "missing"


def test_a_state_of_another_backend_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "state.jsonl"
    save(sample(), str(path), KEY, LOCAL_FILES)
    with pytest.raises(OtherBackend, match="was written for the local emulator store /stores/a, but this run is "
                                           "against AWS account 123456789012 in eu-west-1"):
        load(str(path), KEY, BackendIdentity("aws", "eu-west-1", "123456789012"), LOCAL_FILES)


@pytest.mark.parametrize(("env", "message"), [
    ({}, "needs a secret key in RECONCILER_STATE_KEY"),
    ({st.KEY_ENV: "short"}, "shorter than 32 characters"),
    ({st.FALLBACK_KEY_ENV: "short"}, "RECONCILER_REDACTION_KEY is shorter"),
])
def test_the_key_must_be_given_and_long_enough(env: dict[str, str], message: str) -> None:
    with pytest.raises(UsageError, match=message):
        key_from_env(env)


def test_the_state_key_wins_over_the_redaction_key() -> None:
    a = key_from_env({st.KEY_ENV: "x" * 32, st.FALLBACK_KEY_ENV: "y" * 32})
    assert a.check == key_from_env({st.KEY_ENV: "x" * 32}).check != key_from_env({st.FALLBACK_KEY_ENV: "y" * 32}).check
