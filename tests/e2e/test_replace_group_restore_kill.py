"""kill -9 of `reconciler apply` after every record of a replacement group's restore path, over both
transports: the re-runs still end the restore with every series in a primary image set, no instance lost,
nothing made twice and no copy left behind.

The group is brought to its restore path as in test_replace_group's refused promotion: a first run is killed
right after the first member's new primary is verified (``promoted``), then a third primary image set with
the original Patient-level metadata joins the study. The next run's promotion of the second member is
refused (409), so it deletes the first member's new primary again (``rollback_*``), promotes both pristine
copies back (``restore_*``, ``restored``), deletes the edited and the pristine copies and ends each member
(``replace_restored``). A reference run (in process, on a store of its own) gives those records in order; on
the test's store run k is killed (SIGKILL, ``tests.support.killing``) right after record k and run k+1 goes
on from the journals, so each record is a kill point followed by a re-run that must continue from exactly
there. Each transport's chain is cut in two halves (the second starts with a run killed at its first
record), so that two workers share it."""

from __future__ import annotations

import io
import json
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from reconciler.apply.journal import read_journal
from reconciler.cli import main
from reconciler.commands._common import Streams
from tests.support.groupenv import (
    INSTANCES,
    MEMBERS,
    SELECT,
    add_third_primary,
    assert_nothing_lost,
    genv,
    held_by_primaries,
    primaries,
    seed,
)
from tests.support.journalcheck import check_journal
from tests.support.killing import killed_run, step_records
from tests.support.replaceenv import OLD, RATES, Env, deleting, in_study, instances, wait_quiet

__all__ = ["genv"]  # the fixture
pytestmark = pytest.mark.slow  # about 20 killed applies per transport (forked, so without a Python start-up)

RESTORE = {"rollback_deleting", "rollback_deleted", "restore_promoting", "restore_submitted", "restored",
           "replace_restored"}


def _refused(env: Env, specs: str = "specs") -> None:
    """A run killed once the first member's new primary is verified, then a third primary with the original
    Patient-level metadata: the next run's promotion of the second member is refused."""
    killed_run(env.backend, env.root / "j" / "prelude.jsonl", "promoted", MEMBERS[0], specs)
    wait_quiet(env)
    add_third_primary(env)


def _shape(env: Env) -> tuple[list[tuple[bool, str, Any]], int]:
    """The study's live image sets (primary or not, PatientName, instances), and how many image sets the
    datastore ever held."""
    live = sorted((r.is_primary, d["Patient"]["DICOM"]["PatientName"], sorted(instances(d)))
                  for r, d in in_study(env) if not deleting(r))
    return live, len(env.ever())


Reference = tuple[list[tuple[str, str]], tuple[list[tuple[bool, str, Any]], int]]
_REFERENCE: list[Reference] = []  # one per worker process: every test of the module gets the same


def _reference(factory: pytest.TempPathFactory) -> Reference:
    """The records of an uninterrupted restore, in order, and the store's shape after it."""
    if not _REFERENCE:
        _REFERENCE.append(_run_reference(factory.mktemp("reference")))
    return _REFERENCE[0]


def _run_reference(tmp: Path) -> Reference:
    env = Env(tmp, tmp / "store", ["--local", str(tmp / "store")])
    seed(env.store)
    (tmp / "specs").mkdir()
    env.spec(SELECT)
    _refused(env, str(tmp / "specs"))
    journal = tmp / "j" / "restore.jsonl"
    code = main(["apply", str(tmp / "specs"), "--auto-approve", "--journal", str(journal), *env.backend, *RATES],
                Streams(out=io.StringIO(), err=io.StringIO(), inp=io.StringIO("")))
    assert code == 1
    return step_records(journal), _shape(env)


@pytest.mark.parametrize("half", [0, 1])
def test_kill_9_after_every_record_of_a_group_restore_then_a_rerun_finishes_it(
        genv: Env, tmp_path_factory: pytest.TempPathFactory, half: int) -> None:
    records, restored_shape = _reference(tmp_path_factory)
    assert {e for e, _i in records} >= RESTORE and {i for _e, i in records} == set(MEMBERS), records
    genv.spec(SELECT)
    _refused(genv)
    mid = len(records) // 2
    for k, (event, image_set_id) in list(enumerate(records))[mid * half: mid * (half + 1) if not half else None]:
        journal = genv.root / "j" / f"run{k:02d}.jsonl"
        killed_run(genv.backend, journal, event, image_set_id)
        check_journal(journal)
        wait_quiet(genv)
        assert_nothing_lost(genv)  # whatever the step, every instance is held by an image set not being deleted
        assert len(primaries(genv)) <= 3
    if not half:  # the chain stopped half-way: the next run finishes restoring the group, and says so
        code, out, err = genv.cli("apply", "specs", "--auto-approve", "--journal", "j/finish.jsonl")
        assert code == 1 and out.count("restored: image set") == 2, out + err
        check_journal(genv.root / "j" / "finish.jsonl")
    wait_quiet(genv)
    assert held_by_primaries(genv) >= INSTANCES  # every series in a primary image set
    assert {name for _i, name, _s in primaries(genv)} == {OLD} and len(primaries(genv)) == 3
    assert _shape(genv) == restored_shape  # the same image sets as the uninterrupted restore: none made twice
    assert all(row.is_primary for row, _d in in_study(genv) if not deleting(row))  # no copy left behind
    done = Counter((r["event"], r.get("imageSetId")) for j in (genv.root / "j").glob("*.jsonl")
                   for r in read_journal(j))
    assert [done[("restored", m)] for m in MEMBERS] == [done[("replace_restored", m)] for m in MEMBERS] == [1, 1]
    assert done[("rollback_deleted", MEMBERS[0])] == 1 and done[("rollback_deleted", MEMBERS[1])] == 0
    # what is left to do is a plan: the select now covers the study's three primaries, as one group
    code, out, err = genv.cli("plan", "specs", "--format", "json")
    assert code == 0, out + err
    plans = [p for p in json.loads(out)["image_sets"] if p["action"] == "replace"]
    assert len(plans) == 3 and all(len(p["replacement"]["group"]["members"]) == 3 for p in plans), plans
