"""Chaos: `reconciler apply` killed with SIGKILL at random moments, 24 times in 4 rounds of 6 kills, each
round on a store of its own (the rounds are separate test cases, so pytest-xdist runs them side by side).

After every kill: the journal is valid JSON lines whose per-image-set events follow the lifecycle;
a re-run converges; and the history never holds a partial version nor the same intent written twice.
Most runs go through one `emulator serve` (LOCKED 0.05 s per update); every fourth runs with
``--local``, so the kill can also land inside the apply's own SQLite transaction.

Half the kills are blind (a random delay: before, inside or after the run); the other half are aimed, not
by the clock: through `emulator serve --hold UpdateImageSetMetadata=K` (a server of their own on the
same store), the kill comes once the journal holds K ``submitted`` records and the server has parked the
next update, so it lands inside the run however slow the machine is. An aimed ``--local`` run has no
server to park its updates: it kills itself right after the ``submitted`` record of the K-th image set
(``RECONCILER_CRASH_AFTER``, the journal's crash-testing hook), equally inside the run.
"""

from __future__ import annotations

import random
import signal
import subprocess
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from reconciler.apply.journal import CRASH_ENV, read_journal
from tests.support.forked import ForkedReconciler
from tests.support.journalcheck import check_journal
from tests.support.relenv import (
    CLI_RATES,
    Served,
    apply_report,
    cli_env,
    history,
    reconciler,
    run_inprocess,
    satisfies,
    seed,
    serve,
    write_specs,
)

KILLS = 24
ROUNDS = 4  # KILLS // ROUNDS successive kills on one store per round; every round aims and blinds some
SERVER_KILLS = 4
HANG_GUARD = 300.0
IMAGE_SETS = 6


def _events(journal: Path) -> list[str]:
    return [r["event"] for r in read_journal(journal)] if journal.exists() else []


def _kill_blind(proc: subprocess.Popen[bytes], rng: random.Random) -> None:
    """Kill at a random delay: maybe before anything was sent, maybe inside the run, maybe after it."""
    time.sleep(rng.uniform(0.2, 1.5))
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)


def _kill_aimed(proc: subprocess.Popen[bytes], journal: Path, submitted: int, served: Served) -> None:
    """Kill once the journal holds SUBMITTED ``submitted`` records (fewer than the image sets) and the
    holding SERVED has parked the next update; the waits' limit is a hang guard."""
    _wait_until(f"{submitted} submitted records", lambda: _events(journal).count("submitted") >= submitted, proc)
    served.wait_for_parked(1)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)


def _wait_until(what: str, done: Callable[[], bool], proc: subprocess.Popen[Any]) -> None:
    deadline = time.monotonic() + HANG_GUARD
    while not done():
        assert proc.poll() is None, f"apply ended before {what}"
        assert time.monotonic() < deadline, f"no {what} after {HANG_GUARD} s"
        time.sleep(0.01)


def _check_history(store: Path, ids: list[str], tags: list[str]) -> None:
    """Each version after the first holds one run's whole intent; no intent is written twice in a row."""
    for n, image_set in enumerate(ids, start=1):
        written = []
        for doc in history(store, image_set)[1:]:
            owners = [t for t in tags if satisfies(doc, t, n)]
            assert len(owners) == 1, (image_set, owners)
            written.append(owners[0])
        assert len(written) == len(set(written)), (image_set, written)  # applied once per intent


@contextmanager
def _holding(store: Path, tmp_path: Path, after: int) -> Iterator[Served]:
    """A server of its own on STORE that parks the updates after the first AFTER."""
    with serve(store, tmp_path, "--lock-seconds", "0.05", "--hold", f"UpdateImageSetMetadata={after}") as held:
        yield held
    assert "Traceback" not in held.log


@pytest.mark.slow
@pytest.mark.parametrize("round_", range(ROUNDS))
def test_kill_9_at_random_moments_never_corrupts_and_a_rerun_converges(tmp_path: Path, round_: int) -> None:
    store = tmp_path / "store"
    ids = seed(store, IMAGE_SETS)
    rng = random.Random(20261122 + round_)
    tags: list[str] = []
    aimed_runs = 0
    per_round = KILLS // ROUNDS
    with serve(store, tmp_path, "--lock-seconds", "0.05") as served:
        for i in range(round_ * per_round, (round_ + 1) * per_round):  # every fourth kill runs with --local
            tag = f"C{i}"
            tags.append(tag)
            specs = write_specs(tmp_path / "specs", tag, ids)
            local = i % 4 == 3
            backend = ["--local", str(store)] if local else ["--endpoint-url", served.url]
            journal = tmp_path / f"journal-{i}.jsonl"
            aimed = rng.random() < 0.5
            argv = reconciler("apply", str(specs), "--auto-approve", "--journal", str(journal), "--parallelism", "2",
                              *CLI_RATES, "--rate", "UpdateImageSetMetadata=15")
            if aimed and local:  # it kills itself right after image set K's submitted record
                submitted = rng.randint(1, IMAGE_SETS - 1)
                env = {**cli_env(tmp_path), CRASH_ENV: f"submitted:{ids[submitted - 1]}"}
                proc = ForkedReconciler([*argv, *backend], env=env, cwd=tmp_path, stdout=subprocess.DEVNULL,
                                        stderr=subprocess.DEVNULL)
                proc.wait(timeout=HANG_GUARD)
                last = [r["event"] for r in read_journal(journal) if r.get("imageSetId") == ids[submitted - 1]]
                assert last[-1:] == ["submitted"], last
            elif aimed:
                submitted = rng.randint(1, IMAGE_SETS - 1)
                with _holding(store, tmp_path, submitted) as held:
                    proc = ForkedReconciler([*argv, "--endpoint-url", held.url], env=cli_env(tmp_path), cwd=tmp_path,
                                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                    _kill_aimed(proc, journal, submitted, held)
                # the server answered SUBMITTED updates and parked the next, which it dropped when it stopped
                assert _events(journal).count("submitted") == submitted
                written = [satisfies(history(store, image_set)[-1], tag, n) for n, image_set in enumerate(ids, 1)]
                assert written.count(True) == submitted
            if aimed:  # inside the run: killed, some updates sent, the run never finished
                check_journal(journal)
                aimed_runs += 1
                events = _events(journal)
                assert proc.returncode == -signal.SIGKILL and "submitted" in events, events
                assert "run_finished" not in events, events
            else:
                proc = ForkedReconciler([*argv, *backend], env=cli_env(tmp_path), cwd=tmp_path,
                                        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                _kill_blind(proc, rng)
                check_journal(journal)

            code, out, err = run_inprocess("apply", str(specs), "--auto-approve", "--format", "json",
                                           "--journal", str(tmp_path / f"rerun-{i}.jsonl"), *backend, *CLI_RATES)
            assert code == 0, err
            assert {r["status"] for r in apply_report(out)} <= {"converged", "unchanged"}
            check_journal(tmp_path / f"rerun-{i}.jsonl")
            docs = [history(store, image_set)[-1] for image_set in ids]
            assert all(satisfies(doc, tag, n) for n, doc in enumerate(docs, start=1))
    _check_history(store, ids, tags)
    assert aimed_runs >= 1  # each round's seeded choice aims about half of its kills
    assert "Traceback" not in served.log


@pytest.mark.slow
@pytest.mark.parametrize("i", range(SERVER_KILLS))
def test_kill_9_of_emulator_serve_mid_apply_fails_the_apply_cleanly_and_a_restart_converges(
    tmp_path: Path, i: int
) -> None:
    """The server side crashes instead, aimed like the client kills: it answers K updates and parks the
    next (``--hold``), and is killed once the journal holds K ``submitted`` records and an update is parked.
    The apply ends with exit 1 and no traceback within its timeouts, the store holds exactly the K answered
    updates, and a re-run against a restarted server converges. Each crash is a case of its own, on a store
    of its own."""
    store = tmp_path / "store"
    ids = seed(store, IMAGE_SETS)
    rng = random.Random(7)
    aims = [rng.randint(1, IMAGE_SETS - 1) for _ in range(SERVER_KILLS)]
    tag = f"S{i}"
    specs = write_specs(tmp_path / "specs", tag, ids)
    journal = tmp_path / f"s{i}.jsonl"
    submitted = aims[i]
    with serve(store, tmp_path, "--lock-seconds", "0.05", "--hold", f"UpdateImageSetMetadata={submitted}") as served:
        proc = ForkedReconciler(
            reconciler("apply", str(specs), "--auto-approve", "--journal", str(journal),
                       "--endpoint-url", served.url, "--connect-timeout", "0.5", "--read-timeout", "2", *CLI_RATES),
            env=cli_env(tmp_path), cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        _wait_until(f"{submitted} submitted records", lambda: _events(journal).count("submitted") >= submitted, proc)
        served.wait_for_parked(1)
        served.proc.send_signal(signal.SIGKILL)
        _out, err = proc.communicate(timeout=HANG_GUARD)
    assert proc.returncode == 1, err  # the server died with updates still to send
    assert "Traceback" not in err and "run_finished" in _events(journal)
    assert _events(journal).count("submitted") == submitted
    check_journal(journal)
    written = [satisfies(history(store, image_set)[-1], tag, n) for n, image_set in enumerate(ids, start=1)]
    assert written.count(True) == submitted  # the answered updates survive the crash; the parked one never ran
    with serve(store, tmp_path, "--lock-seconds", "0.05") as served:
        code, _out, err = run_inprocess("apply", str(specs), "--auto-approve", "--journal",
                                        str(tmp_path / f"s{i}-rerun.jsonl"), "--endpoint-url", served.url,
                                        *CLI_RATES)
    assert code == 0, err
    assert all(satisfies(history(store, image_set)[-1], tag, n) for n, image_set in enumerate(ids, start=1))
    _check_history(store, ids, [tag])
