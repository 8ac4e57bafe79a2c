"""Two, then four `reconciler apply` processes race with conflicting specs through one `emulator serve`.

Checked after every round, against the store's full history: every new version holds the whole of one
spec's intent (no interleaving within a version); each version is claimed by exactly one converged
result (no update lost or applied twice); each process's exit code matches its report and its journal.

The first round collides on purpose, whatever each interpreter's start-up time: the server holds the
first update of every applier (``serve --barrier UpdateImageSetMetadata=N``) until all N have arrived,
and each applier has one update in flight at a time (``--rate UpdateImageSetMetadata=500:1``, a burst
of 1), so every applier planned every image set at version 1 before any update was admitted. Then each
image set converges for exactly one of them and is stale for the others. Later rounds race freely.
"""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import pytest

from reconciler.apply.journal import read_journal
from tests.support.forked import ForkedReconciler
from tests.support.relenv import (
    FAST_RATES,
    Served,
    apply_report,
    cli_env,
    history,
    reconciler,
    satisfies,
    seed,
    serve,
    write_specs,
)

IMAGE_SETS = 3
ROUNDS = 3
# one update in flight per applier (a burst of 1), fast; a hang guard far above any wait for the others
RATES = [f"--rate={op}={tps:g}" + (":1" if op == "UpdateImageSetMetadata" else "") for op, tps in FAST_RATES.items()]
HANG_GUARD = 600


def _exit_for(statuses: set[str]) -> int:
    if "failed" in statuses:
        return 1
    return 3 if "stale" in statuses else 0


def _check_journal(path: Path, results: list[dict[str, Any]]) -> None:
    """The journal's final event per image set is the status the report gives it."""
    final: dict[str, str] = {}
    for rec in read_journal(path) if path.exists() else []:
        if "imageSetId" in rec and rec["event"] in ("converged", "stale", "failed"):
            final[rec["imageSetId"]] = rec["event"]
    for r in results:
        if r["status"] == "unchanged":
            assert r["imageSetId"] not in final
        else:
            assert final.get(r["imageSetId"]) == r["status"], (path.name, r)


def _round(tmp_path: Path, served: Served, tags: list[str], rnd: int) -> list[tuple[str, int, list[dict[str, Any]]]]:
    """Start one apply per tag at once; wait for all; return (tag, exit code, results) per process."""
    procs = []
    for tag in tags:
        journal = tmp_path / f"journal-{tag}-{rnd}.jsonl"
        procs.append((tag, journal, ForkedReconciler(
            reconciler("apply", f"specs-{tag}", "--auto-approve", "--endpoint-url", served.url, "--format", "json",
                       "--journal", str(journal), "--parallelism", "3", "--read-timeout", str(HANG_GUARD), *RATES),
            env=cli_env(tmp_path), cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)))
    outcomes = []
    for tag, journal, proc in procs:
        out, err = proc.communicate(timeout=HANG_GUARD)
        assert "Traceback" not in err
        results = apply_report(out)
        assert proc.returncode == _exit_for({r["status"] for r in results}), (tag, err)
        _check_journal(journal, results)
        outcomes.append((tag, proc.returncode, results))
    return outcomes


def _first_round_collided(outcomes: list[tuple[str, int, list[dict[str, Any]]]], ids: list[str]) -> None:
    """Every applier planned every image set at version 1; one of them converged it, the rest were stale."""
    for image_set in ids:
        mine = [r for _tag, _code, results in outcomes for r in results if r["imageSetId"] == image_set]
        assert len(mine) == len(outcomes) and {str(r["plannedVersion"]) for r in mine} == {"1"}, mine
        assert sorted(r["status"] for r in mine) == ["converged"] + ["stale"] * (len(outcomes) - 1), mine


@pytest.mark.slow
@pytest.mark.parametrize("writers", [2, 4])
def test_racing_appliers_never_interleave_lose_or_double_apply(tmp_path: Path, writers: int) -> None:
    store = tmp_path / "store"
    ids = seed(store, IMAGE_SETS)
    tags = [f"W{k}" for k in range(writers)]
    for tag in tags:
        write_specs(tmp_path / f"specs-{tag}", tag, ids)
    seen_versions = {i: 1 for i in ids}
    with serve(store, tmp_path, "--lock-seconds", "0.05", "--barrier", f"UpdateImageSetMetadata={writers}") as served:
        for rnd in range(ROUNDS):
            outcomes = _round(tmp_path, served, tags, rnd)
            if rnd == 0:
                _first_round_collided(outcomes, ids)
            for n, image_set in enumerate(ids, start=1):
                docs = history(store, image_set)
                new = range(seen_versions[image_set] + 1, len(docs) + 1)
                claims = {}  # version -> the tag whose converged update produced it
                for tag, _code, results in outcomes:
                    for r in results:
                        if r["imageSetId"] == image_set and r["status"] == "converged":
                            assert r["finalVersion"] not in claims, "two processes claim one version"
                            claims[r["finalVersion"]] = tag
                            assert int(r["finalVersion"]) == int(r["plannedVersion"]) + 1
                        if r["imageSetId"] == image_set and r["status"] == "unchanged":
                            assert satisfies(docs[int(r["plannedVersion"]) - 1], tag, n)
                # every version this round wrote is one converged update, and holds that spec's whole intent
                assert sorted(int(v) for v in claims) == list(new), (image_set, claims, len(docs))
                for version, tag in claims.items():
                    assert satisfies(docs[int(version) - 1], tag, n), (image_set, version, tag)
                seen_versions[image_set] = len(docs)
            # someone always wins: with every spec different, each image set moves on in round 1
            if rnd == 0:
                assert all(v == 2 for v in seen_versions.values())
    assert "Traceback" not in served.log
