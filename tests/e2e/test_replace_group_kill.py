"""kill -9 of `reconciler apply` after every journal record of a two-member replacement group, over both
transports: no instance is ever held only by image sets being deleted, and the last run finishes the group.

Efficient by design: the runs form one chain per transport. A reference run (in process, on a store of its
own) gives the group's records in order; then on the test's store run k is killed (SIGKILL, by
``RECONCILER_CRASH_AFTER=EVENT:IMAGE_SET_ID``) right after record k, and run k+1 continues from the journal
run k left. So every record is a kill point followed by a re-run that must go on from exactly there, and a
chain costs about two applies plus one plan per record. Each transport's chain is cut in two halves (the
second starts with a run killed at its first record), so that two workers share it. Each killed run is a
fork of the test process (the package already imported), which dies by SIGKILL like any process
(``tests.support.killing``)."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from reconciler.cli import main
from reconciler.commands._common import Streams
from tests.support.groupenv import MEMBERS, SELECT, assert_group_replaced, assert_nothing_lost, genv, primaries, seed
from tests.support.journalcheck import check_journal
from tests.support.killing import killed_run, step_records
from tests.support.replaceenv import RATES, Env, wait_quiet

__all__ = ["genv"]  # the fixture
pytestmark = pytest.mark.slow  # about 35 killed applies per transport (forked, so without a Python start-up)


def _reference(tmp: Path) -> list[tuple[str, str]]:
    """(event, original image set ID) of every replacement record of a whole run, in order."""
    store = tmp / "reference-store"
    seed(store)
    (tmp / "reference-specs").mkdir()
    (tmp / "reference-specs" / "x.yaml").write_text(SELECT)
    journal = tmp / "reference.jsonl"
    code = main(["apply", str(tmp / "reference-specs"), "--auto-approve", "--journal", str(journal), "--local",
                 str(store), *RATES], Streams(out=io.StringIO(), err=io.StringIO(), inp=io.StringIO("")))
    assert code == 0
    return step_records(journal)


@pytest.mark.parametrize("half", [0, 1])
def test_kill_9_after_every_record_of_a_two_member_group_then_the_next_run_goes_on(
        genv: Env, tmp_path_factory: pytest.TempPathFactory, half: int) -> None:
    records = _reference(tmp_path_factory.mktemp("reference"))
    members = {image_set_id for _e, image_set_id in records}
    assert members == set(MEMBERS) and len(records) == 2 * 17, records  # every step of both members
    genv.spec(SELECT)
    mid = len(records) // 2
    for k, (event, image_set_id) in list(enumerate(records))[mid * half: mid * (half + 1) if not half else None]:
        journal = genv.root / "j" / f"run{k:02d}.jsonl"
        killed_run(genv.backend, journal, event, image_set_id)  # killed right at the boundary
        check_journal(journal)
        wait_quiet(genv)
        assert_nothing_lost(genv)  # whatever the step, every instance is held by an image set not being deleted
        assert len(primaries(genv)) <= 2
    code, out, err = genv.cli("apply", "specs", "--auto-approve", "--journal", "j/last.jsonl")
    assert code == 0, out + err
    check_journal(genv.root / "j" / "last.jsonl")
    assert_group_replaced(genv)
    code, out, err = genv.cli("plan", "specs", "--detailed-exitcode")
    assert code == 0, out + err
