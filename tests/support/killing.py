"""kill -9 of `reconciler apply` right after one journal record, cheaply: the run is a ``ForkedReconciler``
(a fork of the test process: the package already imported, no Python start-up) that kills itself by
SIGKILL, like any process, once ``RECONCILER_CRASH_AFTER=EVENT:IMAGE_SET_ID`` names the record it just
wrote."""

from __future__ import annotations

import os
import signal
import subprocess
from collections.abc import Sequence
from pathlib import Path

import pytest

from reconciler.apply.journal import CRASH_ENV, read_journal
from reconciler.apply.ledger import STEPS
from tests.support.forked import ForkedReconciler, reconciler
from tests.support.replaceenv import RATES

CHILD_TIMEOUT = 120.0  # a guard against a hung child, not a timed assertion


def killed_run(backend: list[str], journal: Path, event: str, image_set_id: str, specs: str = "specs",
               target: Sequence[str] | None = None) -> None:
    """A forked `reconciler apply SPECS --auto-approve` (or `apply TARGET...`) on BACKEND that kills itself
    right after the record EVENT of IMAGE_SET_ID; fails the test if it ends any other way (what it said is
    in JOURNAL's ``.out``)."""
    argv = [specs, "--auto-approve"] if target is None else list(target)
    said = journal.with_suffix(".out")
    said.parent.mkdir(parents=True, exist_ok=True)
    with said.open("w") as out:
        proc = ForkedReconciler(reconciler("apply", *argv, "--journal", str(journal), *backend, *RATES),
                                env={**os.environ, CRASH_ENV: f"{event}:{image_set_id}"},
                                stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT)
    try:
        code = proc.wait(timeout=CHILD_TIMEOUT)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
        pytest.fail(f"the apply to be killed after {event} of {image_set_id} hung")
    assert code == -signal.SIGKILL, \
        f"the run did not reach {event} of {image_set_id} (exit {code}): " + said.read_text()
    last = read_journal(journal)[-1]
    assert (last["event"], last["imageSetId"]) == (event, image_set_id)  # killed right at the boundary


def step_records(journal: Path) -> list[tuple[str, str]]:
    """(event, original image set ID) of every replacement record of JOURNAL, in order."""
    return [(str(r["event"]), str(r["imageSetId"])) for r in read_journal(journal) if r["event"] in STEPS]
