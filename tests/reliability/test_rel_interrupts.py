"""A real `reconciler apply` process gets a real SIGINT or SIGTERM while its updates are in flight.

Against `emulator serve --lock-seconds --hold UpdateImageSetMetadata=1`: the first update goes through,
every later one is parked inside the server, unanswered, so with 4 workers the run comes to a known
state whatever the machine's speed: one image set done (or, with a lock that never ends, LOCKED), 4
updates in flight, 5 image sets not started. The signal is sent once the server has parked them (its
log says so), and the parked updates are released (SIGUSR1) only once the apply has announced the
interrupt. Checked: the exit code (130 / 143), the summary (on a line of its own after the progress
bar) with its exact counts, the journal (its last record, every image set's record sequence), and the
store (in-flight image sets verified, the others untouched). A second signal ends the run at once; the
drain after the first is bounded.
"""

from __future__ import annotations

import json
import os
import pty
import re
import signal
import subprocess
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from reconciler.apply.journal import read_journal
from tests.support.forked import ForkedReconciler
from tests.support.journalcheck import check_journal
from tests.support.relenv import (
    CLI_RATES,
    Served,
    cli_env,
    history,
    reconciler,
    run,
    satisfies,
    seed,
    serve,
    write_specs,
)

IMAGE_SETS = 10
WORKERS = 4
# the server answers the first update and parks the others until released: once WORKERS are parked, the
# run has started WORKERS + 1 image sets and can start no other until the parked ones are answered
HOLD = ["--hold", "UpdateImageSetMetadata=1"]
# a lock far longer than any hang guard: an update in flight can only end unfinished, never converge
FOREVER = 3600.0
HANG_GUARD = 300.0
SUMMARY = re.compile(r"Apply (interrupted|aborted) by (SIG\w+): (\d+) converged, 0 unchanged, 0 stale, "
                     r"(\d+) failed, (\d+) unfinished, (\d+) not started")


class Applier:
    """`reconciler apply PLANFILE` in a subprocess; its stdout and stderr collected by a reader thread."""

    def __init__(self, tmp_path: Path, url: str, *flags: str, terminal: bool = False) -> None:
        self.journal = tmp_path / "journal.jsonl"
        argv = reconciler("apply", "plan.json", "--endpoint-url", url, "--journal", str(self.journal),
                          *CLI_RATES, "--parallelism", str(WORKERS), *flags)
        self.chunks: list[bytes] = []
        if terminal:  # stdout and stderr on one pseudo-terminal, as in an operator's shell
            leader, follower = pty.openpty()
            self.proc = ForkedReconciler(argv, env=cli_env(tmp_path), cwd=tmp_path, stdin=subprocess.DEVNULL,
                                         stdout=follower, stderr=follower)
            os.close(follower)
            self._reader = threading.Thread(target=self._read_fd, args=(leader,), daemon=True)
        else:
            self.proc = ForkedReconciler(argv, env=cli_env(tmp_path), cwd=tmp_path, stdin=subprocess.DEVNULL,
                                         stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
            assert self.proc.stdout is not None
            self._reader = threading.Thread(target=self._read_fd, args=(self.proc.stdout.fileno(),), daemon=True)
        self._reader.start()

    def _read_fd(self, fd: int) -> None:
        while True:
            try:
                chunk = os.read(fd, 4096)
            except OSError:  # EIO: the terminal's other side is closed
                return
            if not chunk:
                return
            self.chunks.append(chunk)

    @property
    def output(self) -> str:
        return b"".join(self.chunks).decode("utf-8", "replace").replace("\r\n", "\n")

    def records(self) -> list[dict[str, Any]]:
        return read_journal(self.journal) if self.journal.exists() else []

    def wait_for(self, what: str, predicate: Any, timeout: float = HANG_GUARD) -> None:
        deadline = time.monotonic() + timeout
        while not predicate():
            assert self.proc.poll() is None, f"apply ended before {what}: {self.output[-2000:]}"
            assert time.monotonic() < deadline, f"no {what} after {timeout} s: {self.output[-2000:]}"
            time.sleep(0.02)

    def wait_until_in_flight(self, count: int = 1) -> None:
        self.wait_for(f"{count} submitted updates",
                      lambda: sum(r["event"] == "submitted" for r in self.records()) >= count)

    def finish(self, timeout: float) -> int:
        try:
            code = self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            raise
        self._reader.join(timeout=10)
        return code


@contextmanager
def emulator(tmp_path: Path, lock_seconds: float) -> Iterator[tuple[Served, list[str], Path]]:
    """A seeded store served with LOCK_SECONDS per update and the updates after the first parked, and a
    saved plan that renames every image set."""
    store = tmp_path / "store"
    ids = seed(store, IMAGE_SETS)
    write_specs(tmp_path / "specs", "NEW", ids)
    with serve(store, tmp_path, "--lock-seconds", str(lock_seconds), *HOLD) as served:
        planned = run(tmp_path, "plan", "specs", "--out", "plan.json", "--endpoint-url", served.url, *CLI_RATES)
        assert planned.returncode == 0, planned.stderr
        yield served, ids, store
    assert "Traceback" not in served.log


def last_events(records: list[dict[str, Any]]) -> dict[str, str]:
    """Each image set's last event in the journal."""
    return {r["imageSetId"]: r["event"] for r in records if "imageSetId" in r}


def journal_end(applier: Applier, event: str) -> tuple[list[dict[str, Any]], dict[str, str], set[str]]:
    """The applier's journal, checked whole and ending with EVENT: its records, each image set's last event,
    and the image sets whose update was sent."""
    records = applier.records()
    check_journal(applier.journal)
    assert records[-1]["event"] == event
    return records, last_events(records), {r["imageSetId"] for r in records if r["event"] == "submitted"}


def assert_store_matches(store: Path, ids: list[str], last: dict[str, str]) -> None:
    """Converged image sets hold the new names; not-started ones are untouched (still only version 1)."""
    for n, image_set in enumerate(ids, start=1):
        docs = history(store, image_set)
        if last[image_set] == "converged":
            assert len(docs) == 2 and satisfies(docs[-1], "NEW", n), image_set
        elif last[image_set] in ("planned", "not_started"):
            assert len(docs) == 1, (image_set, last[image_set])


def assert_parked_never_applied(store: Path, ids: list[str], last: dict[str, str], sent: set[str]) -> None:
    """The unfinished updates never answered (parked, then dropped by the stopping server) left their image
    sets untouched."""
    parked = [i for i in ids if last[i] == "unfinished" and i not in sent]
    assert len(parked) == WORKERS - 1 and all(len(history(store, i)) == 1 for i in parked)


def interrupt_when_parked(applier: Applier, served: Served, parked: int, sig: signal.Signals) -> None:
    """Send SIG once the server has parked PARKED updates (nothing else can move), and wait for the apply
    to announce it."""
    served.wait_for_parked(parked)
    applier.proc.send_signal(sig)
    applier.wait_for("the interrupt notice", lambda: f"Interrupted ({sig.name})" in applier.output)


@pytest.mark.slow
def test_ctrl_c_in_a_terminal_finishes_the_updates_in_flight_and_prints_the_summary(tmp_path: Path) -> None:
    with emulator(tmp_path, lock_seconds=0.2) as (served, ids, store):
        # the drain's bound is a hang guard here: this run must finish its updates in flight
        applier = Applier(tmp_path, served.url, "--drain-timeout", str(HANG_GUARD), terminal=True)
        # the first image set converged, then its worker's next update was parked like the other three
        interrupt_when_parked(applier, served, WORKERS, signal.SIGINT)
        events = [r["event"] for r in applier.records()]
        assert (events.count("converged"), events.count("submitting")) == (1, WORKERS + 1), events
        served.release()  # the parked updates go on only now that the apply is stopping
        assert applier.finish(timeout=HANG_GUARD) == 130
    out = applier.output
    assert "Traceback" not in out
    # the progress bar's line is ended before the notice, and the summary starts on a line of its own
    assert "\nInterrupted (SIGINT): sending no new requests" in out
    assert "press Ctrl-C again to stop at once" in out
    bar, _, after = out.partition("Interrupted (SIGINT)")
    assert "ETA" in bar and bar.endswith("\n")
    summary = SUMMARY.search(after)
    assert summary is not None, after
    assert after[summary.start() - 1] == "\n" and out.endswith("\n")
    converged, failed, unfinished, not_started = (int(summary.group(n)) for n in (3, 4, 5, 6))
    assert summary.group(1, 2) == ("interrupted", "SIGINT")
    # the updates in flight were finished, and no new one was sent after the signal
    assert (converged, failed, unfinished, not_started) == (WORKERS + 1, 0, 0, IMAGE_SETS - WORKERS - 1)

    records, last, sent = journal_end(applier, "run_interrupted")
    assert (records[-1]["reason"], records[-1]["exit_code"]) == ("SIGINT", 130)
    assert (records[-1]["converged"], records[-1]["not_started"]) == (converged, not_started)
    assert len(sent) == WORKERS + 1 and all(last[i] == "converged" for i in sent)  # every one verified
    assert_store_matches(store, ids, last)


@pytest.mark.slow
def test_sigterm_in_ci_exits_143_with_the_json_report(tmp_path: Path) -> None:
    with emulator(tmp_path, lock_seconds=0.2) as (served, ids, store):
        applier = Applier(tmp_path, served.url, "--format", "json", "--drain-timeout", str(HANG_GUARD))
        interrupt_when_parked(applier, served, WORKERS, signal.SIGTERM)
        served.release()
        assert applier.finish(timeout=HANG_GUARD) == 143
    out = applier.output
    assert "Interrupted (SIGTERM): sending no new requests" in out and "send SIGTERM again" in out
    report = json.loads(out[out.index("{"):])
    assert (report["interrupted"], report["signal"], report["exit_code"], report["aborted"]) == (
        True, "SIGTERM", 143, False)
    statuses = {r["imageSetId"]: r["status"] for r in report["image_sets"]}
    assert sorted(statuses.values()) == ["converged"] * (WORKERS + 1) + ["not_started"] * (IMAGE_SETS - WORKERS - 1)
    records, last, _sent = journal_end(applier, "run_interrupted")
    assert records[-1]["exit_code"] == 143
    for image_set, status in statuses.items():
        assert (last[image_set] == "converged") is (status == "converged")
    assert_store_matches(store, ids, last)


@pytest.mark.slow
def test_a_second_ctrl_c_aborts_at_once_and_still_ends_the_journal(tmp_path: Path) -> None:
    with emulator(tmp_path, lock_seconds=FOREVER) as (served, ids, store):
        applier = Applier(tmp_path, served.url)
        # the first update is LOCKED for good (its worker waits for it), the other workers' updates parked
        interrupt_when_parked(applier, served, WORKERS - 1, signal.SIGINT)
        applier.proc.send_signal(signal.SIGINT)
        # not the 25 s drain, nor the lock: "aborted" (not "interrupted") and the updates in flight
        # unfinished (below) say so, without a clock
        assert applier.finish(timeout=HANG_GUARD) == 130
    out = applier.output
    summary = SUMMARY.search(out)
    assert summary is not None and summary.group(1, 2) == ("aborted", "SIGINT"), out
    # the updates in flight are unfinished (they may have been applied), the others not started
    assert (int(summary.group(5)), int(summary.group(6))) == (WORKERS, IMAGE_SETS - WORKERS)
    records, last, sent = journal_end(applier, "run_aborted")
    assert records[-1]["exit_code"] == 130
    assert len(sent) == 1 and all(last[i] == "unfinished" for i in sent)
    assert list(last.values()).count("unfinished") == WORKERS
    assert_store_matches(store, ids, last)
    assert_parked_never_applied(store, ids, last, sent)


@pytest.mark.slow
def test_the_drain_after_one_signal_is_bounded_by_drain_timeout(tmp_path: Path) -> None:
    with emulator(tmp_path, lock_seconds=FOREVER) as (served, ids, store):
        applier = Applier(tmp_path, served.url, "--drain-timeout", "1")
        interrupt_when_parked(applier, served, WORKERS - 1, signal.SIGTERM)
        # 1 s of drain, not the lock nor the parked requests: the run ends with its updates in flight
        # unfinished (below)
        assert applier.finish(timeout=HANG_GUARD) == 143
    summary = SUMMARY.search(applier.output)
    assert summary is not None and summary.group(1, 2) == ("interrupted", "SIGTERM")
    records, last, sent = journal_end(applier, "run_interrupted")
    assert records[-1]["drain_timeout"] == 1.0
    assert len(sent) == 1 and all(last[i] == "unfinished" for i in sent)
    assert (records[-1]["unfinished"], records[-1]["not_started"]) == (WORKERS, IMAGE_SETS - WORKERS)
    assert_store_matches(store, ids, last)
    assert_parked_never_applied(store, ids, last, sent)
