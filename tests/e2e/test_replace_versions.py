"""Waits and verification follow the version each answer gives, over both transports: the emulator starts
every image set that CopyImageSet makes at version 7 (``first_version``, ``emulator serve --first-version``;
the API reference gives a new image set's version only in the answer, ``destinationImageSetProperties.
latestVersionId``). A replacement alone and a replacement group then converge, a group whose promotion is
refused is restored, and their records carry the answers' versions: a wait for version "1" of a copy
would find no such version and fail."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from reconciler.apply.journal import read_journal
from reconciler.emulator.knobs import EmulatorConfig
from tests.support import groupenv, replaceenv
from tests.support.backends import cli_backend, isolate_aws, local_knobs
from tests.support.killing import killed_run
from tests.support.replaceenv import LOCK, NEW, Env, assert_replaced, in_study, spec_text, wait_quiet

FIRST = 7
CONFIG = EmulatorConfig(first_version=FIRST)


@pytest.fixture(params=["local", "http"])
def transport(request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    isolate_aws(tmp_path, monkeypatch, "RECONCILER_BLOB_LIMIT", "RECONCILER_CRASH_AFTER")
    monkeypatch.chdir(tmp_path)
    (tmp_path / "specs").mkdir()
    local_knobs(monkeypatch, CONFIG)
    return str(request.param)


@contextmanager
def _env(kind: str, root: Path, seed: Any) -> Iterator[Env]:
    seed(root / "store")
    with cli_backend(kind, root / "store", EmulatorConfig(lock_seconds=LOCK, first_version=FIRST)) as args:
        yield Env(root, root / "store", args)


def _versions(journal: Path, *fields: str) -> dict[str, set[str]]:
    """Every version each record of the journal names, per event and field (``event.field``)."""
    found: dict[str, set[str]] = {}
    for r in read_journal(journal):
        for f in fields:
            if r.get(f) is not None:
                found.setdefault(f"{r['event']}.{f}", set()).add(str(r[f]))
    return found


def test_a_replacement_waits_for_the_versions_its_answers_give(transport: str, tmp_path: Path) -> None:
    with _env(transport, tmp_path, replaceenv.seed) as env:
        env.spec(spec_text())
        code, out, err = env.cli("apply", "specs", "--auto-approve", "--format", "json", "--journal", "j/run.jsonl")
        assert code == 0, out + err
        (result,) = json.loads(out)["image_sets"]
        assert (result["status"], result["finalVersion"]) == ("replaced", str(FIRST)), result
        new_id = assert_replaced(env)
        assert [r.version for r, _d in in_study(env)] == [FIRST] and new_id == result["replacedBy"]
        versions = _versions(tmp_path / "j" / "run.jsonl", "copyVersion", "newVersion")
        assert versions["copied.copyVersion"] == {str(FIRST)}  # the copy settled at the version its answer gave
        assert versions["copy_updated.copyVersion"] == {str(FIRST + 1)}  # the update's answer: the next one
        assert versions["promoted.newVersion"] == {str(FIRST)}
        code, out, err = env.cli("plan", "specs", "--detailed-exitcode")
        assert code == 0, out + err


def test_a_replacement_group_waits_for_the_versions_its_answers_give(transport: str, tmp_path: Path) -> None:
    with _env(transport, tmp_path, groupenv.seed) as env:
        env.spec(groupenv.SELECT)
        code, out, err = env.cli("apply", "specs", "--auto-approve", "--format", "json", "--journal", "j/run.jsonl")
        assert code == 0, out + err
        results = json.loads(out)["image_sets"]
        assert {(r["status"], r["finalVersion"]) for r in results} == {("replaced", str(FIRST))}, results
        wait_quiet(env)
        groupenv.assert_group_replaced(env)
        assert {r.version for r, d in in_study(env)} == {FIRST}
        assert {d["Patient"]["DICOM"]["PatientName"] for _r, d in in_study(env)} == {NEW}
        versions = _versions(tmp_path / "j" / "run.jsonl", "copyVersion", "pristineVersion", "newVersion")
        assert versions["pristine_copied.pristineVersion"] == versions["promoted.newVersion"] == {str(FIRST)}
        assert versions["copy_updated.copyVersion"] == {str(FIRST + 1)}
        code, out, err = env.cli("plan", "specs", "--detailed-exitcode")
        assert code == 0, out + err


def test_a_restored_group_waits_for_the_versions_its_answers_give(transport: str, tmp_path: Path) -> None:
    """The restore path (test_replace_group_restore_kill's refused promotion): the pristine copies promoted
    back are waited for at the versions their answers gave."""
    with _env(transport, tmp_path, groupenv.seed) as env:
        env.spec(groupenv.SELECT)
        killed_run(env.backend, tmp_path / "j" / "prelude.jsonl", "promoted", groupenv.MEMBERS[0])
        wait_quiet(env)
        groupenv.add_third_primary(env)
        code, out, err = env.cli("apply", "specs", "--auto-approve", "--journal", "j/run.jsonl")
        assert code == 1 and out.count("restored: image set") == 2, out + err
        versions = _versions(tmp_path / "j" / "run.jsonl", "newVersion")
        assert versions["restore_submitted.newVersion"] == versions["restored.newVersion"] == {str(FIRST)}
        wait_quiet(env)
        assert groupenv.held_by_primaries(env) >= groupenv.INSTANCES
        assert sorted(r.version for r, _d in in_study(env)) == [1, FIRST, FIRST]  # the third primary, 2 restored
