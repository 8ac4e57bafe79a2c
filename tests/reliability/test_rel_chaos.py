"""Chaos: `reconciler apply` killed with SIGKILL at random moments, 24 times on one store.

After every kill: the journal is valid JSON lines whose per-image-set events follow the lifecycle;
a re-run converges; and the history never holds a partial version nor the same intent written twice.
Most runs go through one `emulator serve` (LOCKED 0.05 s per update); every fourth runs with
``--local``, so the kill can also land inside the apply's own SQLite transaction.
"""

from __future__ import annotations

import random
import signal
import subprocess
import time
from pathlib import Path

import pytest
from relenv import (
    CLI_RATES,
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

from tests.journalcheck import check_journal

KILLS = 24
IMAGE_SETS = 6
def _kill_at_random(proc: subprocess.Popen[bytes], journal: Path, rng: random.Random) -> None:
    """Half the time kill at a blind delay (maybe before anything was sent), else once the journal exists."""
    if rng.random() < 0.5:
        time.sleep(rng.uniform(0.2, 1.5))
    else:
        deadline = time.monotonic() + 30
        while not journal.exists() and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.01)
        time.sleep(rng.uniform(0.0, 0.5))
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)


def _check_history(store: Path, ids: list[str], tags: list[str]) -> None:
    """Each version after the first holds one run's whole intent; no intent is written twice in a row."""
    for n, image_set in enumerate(ids, start=1):
        written = []
        for doc in history(store, image_set)[1:]:
            owners = [t for t in tags if satisfies(doc, t, n)]
            assert len(owners) == 1, (image_set, owners)
            written.append(owners[0])
        assert len(written) == len(set(written)), (image_set, written)  # applied once per intent


@pytest.mark.slow
def test_kill_9_at_random_moments_never_corrupts_and_a_rerun_converges(tmp_path: Path) -> None:
    store = tmp_path / "store"
    ids = seed(store, IMAGE_SETS)
    rng = random.Random(20261122)
    tags: list[str] = []
    killed_mid_run = 0
    with serve(store, tmp_path, "--lock-seconds", "0.05") as served:
        for i in range(KILLS):
            tag = f"C{i}"
            tags.append(tag)
            specs = write_specs(tmp_path / "specs", tag, ids)
            backend = ["--local", str(store)] if i % 4 == 3 else ["--endpoint-url", served.url]
            journal = tmp_path / f"journal-{i}.jsonl"
            proc = subprocess.Popen(
                reconciler("apply", str(specs), "--auto-approve", "--journal", str(journal), "--parallelism", "2",
                           *backend, *CLI_RATES, "--rate", "UpdateImageSetMetadata=15"),
                env=cli_env(tmp_path), cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            _kill_at_random(proc, journal, rng)
            killed_mid_run += proc.returncode == -signal.SIGKILL and check_journal(journal) > 0

            code, out, err = run_inprocess("apply", str(specs), "--auto-approve", "--format", "json",
                                           "--journal", str(tmp_path / f"rerun-{i}.jsonl"), *backend, *CLI_RATES)
            assert code == 0, err
            assert {r["status"] for r in apply_report(out)} <= {"converged", "unchanged"}
            check_journal(tmp_path / f"rerun-{i}.jsonl")
            docs = [history(store, image_set)[-1] for image_set in ids]
            assert all(satisfies(doc, tag, n) for n, doc in enumerate(docs, start=1))
    _check_history(store, ids, tags)
    assert killed_mid_run >= KILLS // 4  # the kills did land inside runs, not only before or after them
    assert "Traceback" not in served.log


@pytest.mark.slow
def test_kill_9_of_emulator_serve_mid_apply_fails_the_apply_cleanly_and_a_restart_converges(tmp_path: Path) -> None:
    """The server side crashes instead: the apply ends (exit 1, no traceback) within its timeouts, the store
    survives the crash, and a re-run against a restarted server converges."""
    store = tmp_path / "store"
    ids = seed(store, IMAGE_SETS)
    rng = random.Random(7)
    tags = []
    crashed_mid_run = 0
    for i in range(4):
        tag = f"S{i}"
        tags.append(tag)
        specs = write_specs(tmp_path / "specs", tag, ids)
        with serve(store, tmp_path, "--lock-seconds", "0.05") as served:
            proc = subprocess.Popen(
                reconciler("apply", str(specs), "--auto-approve", "--journal", str(tmp_path / f"s{i}.jsonl"),
                           "--endpoint-url", served.url, "--connect-timeout", "0.5", "--read-timeout", "2",
                           *CLI_RATES, "--rate", "UpdateImageSetMetadata=3"),
                env=cli_env(tmp_path), cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            journal = tmp_path / f"s{i}.jsonl"
            deadline = time.monotonic() + 30
            while not journal.exists() and proc.poll() is None and time.monotonic() < deadline:
                time.sleep(0.01)
            time.sleep(rng.uniform(0.0, 1.2))
            served.proc.send_signal(signal.SIGKILL)
            _out, err = proc.communicate(timeout=90)
        assert proc.returncode in (0, 1), err  # 0 when it finished before the crash
        crashed_mid_run += proc.returncode == 1
        assert "Traceback" not in err
        check_journal(tmp_path / f"s{i}.jsonl")
        with serve(store, tmp_path, "--lock-seconds", "0.05") as served:
            code, _out, err = run_inprocess("apply", str(specs), "--auto-approve", "--journal",
                                            str(tmp_path / f"s{i}-rerun.jsonl"), "--endpoint-url", served.url,
                                            *CLI_RATES)
        assert code == 0, err
        assert all(satisfies(history(store, image_set)[-1], tag, n) for n, image_set in enumerate(ids, start=1))
    _check_history(store, ids, tags)
    assert crashed_mid_run >= 2
