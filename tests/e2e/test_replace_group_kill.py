"""kill -9 of `reconciler apply` after every journal record of a two-member replacement group, over both
transports: no instance is ever held only by image sets being deleted, and the last run finishes the group.

Efficient by design: the runs form one chain per transport. A reference run (in process, on a store of its
own) gives the group's records in order; then on the test's store run k is killed (SIGKILL, by
``RECONCILER_CRASH_AFTER=EVENT:IMAGE_SET_ID``) right after record k, and run k+1 continues from the journal
run k left. So every record is a kill point followed by a re-run that must go on from exactly there, and a
chain costs about two applies plus one plan per record. Each transport's chain is cut in two halves (the
second starts with a run killed at its first record), so that two workers share it. Each killed run is a
fork of the test process (the package already imported), which dies by SIGKILL like any process."""

from __future__ import annotations

import io
import os
import signal
import time
from pathlib import Path

import pytest

from reconciler.apply.journal import CRASH_ENV, read_journal
from reconciler.apply.ledger import STEPS
from reconciler.cli import main
from reconciler.commands._common import Streams
from tests.support.groupenv import MEMBERS, SELECT, assert_group_replaced, assert_nothing_lost, genv, primaries, seed
from tests.support.journalcheck import check_journal
from tests.support.replaceenv import RATES, Env, wait_quiet

__all__ = ["genv"]  # the fixture
pytestmark = pytest.mark.slow  # about 35 killed applies per transport (forked, so without a Python start-up)

CHILD_TIMEOUT = 120.0  # a guard against a hung child, not a timed assertion


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
    return [(str(r["event"]), str(r["imageSetId"])) for r in read_journal(journal) if r["event"] in STEPS]


def _killed_run(env: Env, journal: Path, event: str, image_set_id: str) -> None:
    """A forked `reconciler apply` that kills itself right after the record EVENT of IMAGE_SET_ID."""
    pid = os.fork()
    if pid == 0:  # the child: never returns into pytest
        code = 70
        out = io.StringIO()
        try:
            os.environ[CRASH_ENV] = f"{event}:{image_set_id}"
            code = main(["apply", "specs", "--auto-approve", "--journal", str(journal), *env.backend, *RATES],
                        Streams(out=out, err=out, inp=io.StringIO("")))
        finally:
            journal.with_suffix(".out").write_text(out.getvalue())  # what it said, should it not be killed
            os._exit(code)
    deadline = time.monotonic() + CHILD_TIMEOUT
    while True:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            break
        if time.monotonic() > deadline:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
            pytest.fail(f"the apply to be killed after {event} of {image_set_id} hung")
        time.sleep(0.01)
    assert os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGKILL, \
        f"the run did not reach {event} of {image_set_id} (exit {os.waitstatus_to_exitcode(status)}): " \
        + journal.with_suffix(".out").read_text()


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
        _killed_run(genv, journal, event, image_set_id)
        last = read_journal(journal)[-1]
        assert (last["event"], last["imageSetId"]) == (event, image_set_id)  # killed right at the boundary
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
