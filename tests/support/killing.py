"""kill -9 of `reconciler apply` right after one journal record, cheaply: the run is a fork of the test
process (the package already imported, no Python start-up) that kills itself by SIGKILL, like any process,
once ``RECONCILER_CRASH_AFTER=EVENT:IMAGE_SET_ID`` names the record it just wrote."""

from __future__ import annotations

import io
import os
import signal
import time
from collections.abc import Sequence
from pathlib import Path

import pytest

from reconciler.apply.journal import CRASH_ENV, read_journal
from reconciler.apply.ledger import STEPS
from reconciler.cli import main
from reconciler.commands._common import Streams
from tests.support.replaceenv import RATES

CHILD_TIMEOUT = 120.0  # a guard against a hung child, not a timed assertion


def killed_run(backend: list[str], journal: Path, event: str, image_set_id: str, specs: str = "specs",
               target: Sequence[str] | None = None) -> None:
    """A forked `reconciler apply SPECS --auto-approve` (or `apply TARGET...`) on BACKEND that kills itself
    right after the record EVENT of IMAGE_SET_ID; fails the test if it ends any other way (what it said is
    in JOURNAL's ``.out``)."""
    argv = [specs, "--auto-approve"] if target is None else list(target)
    pid = os.fork()
    if pid == 0:  # the child: never returns into pytest
        code = 70
        out = io.StringIO()
        try:
            os.environ[CRASH_ENV] = f"{event}:{image_set_id}"
            code = main(["apply", *argv, "--journal", str(journal), *backend, *RATES],
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
    last = read_journal(journal)[-1]
    assert (last["event"], last["imageSetId"]) == (event, image_set_id)  # killed right at the boundary


def step_records(journal: Path) -> list[tuple[str, str]]:
    """(event, original image set ID) of every replacement record of JOURNAL, in order."""
    return [(str(r["event"]), str(r["imageSetId"])) for r in read_journal(journal) if r["event"] in STEPS]
