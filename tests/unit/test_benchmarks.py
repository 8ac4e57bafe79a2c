"""The benchmarks stay runnable: every benchmarks/bench_*.py module imports, and bench_drift's fleet run holds
its request targets on a small fleet (its time and memory targets are for `make bench`, not for tests)."""

from __future__ import annotations

import importlib
import io
import pkgutil
import time
from pathlib import Path

import pytest

from benchmarks import bench_adt, bench_replace
from benchmarks import bench_drift as bench
from reconciler.api import BackendIdentity

NAMES = sorted(m.name for m in pkgutil.iter_modules([str(Path(bench.__file__).parent)]) if m.name.startswith("bench_"))


@pytest.mark.parametrize("name", NAMES)
def test_every_benchmark_imports_and_has_a_main(name: str) -> None:
    assert callable(importlib.import_module(f"benchmarks.{name}").main)


def test_bench_drift_incremental_run_meets_its_request_targets_on_a_small_fleet(tmp_path: Path) -> None:
    count = 300
    store = bench.seed(tmp_path / "store", count)
    api = bench.client(tmp_path / "store", 1_000_000.0)  # no quota wall: only requests are counted here
    backend = BackendIdentity("local", str((tmp_path / "store").resolve()))
    docs, location = bench.specs(count), str(tmp_path / "state.jsonl")
    full = bench.drift(api, docs, location, backend)
    assert (full.cost.metadata_reads, full.cost.tier_ups) == (count, count)
    bench.a_month_passes(store)
    changed = bench.ids(count)[::100]
    bench.change_outside(store, changed)
    before = time.time()
    incremental = bench.drift(api, docs, location, backend)
    woke = bench.woken(store, set(bench.ids(count)) - set(changed), before)
    refresh = bench.drift(api, docs, location, backend, refresh=True)
    assert bench.reported(incremental.plan) == bench.reported(refresh.plan)
    assert {i for i, _, _ in bench.reported(refresh.plan)} == set(changed)
    assert bench.reads(incremental.cost) <= len(changed) + incremental.cost.search_pages + 10
    assert incremental.cost.metadata_reads == len(changed) and incremental.cost.tier_ups == 0 and woke == 0


def test_bench_adt_small_run_writes_a_spec_per_message(tmp_path: Path) -> None:
    read, parse, files = bench_adt.measure(200, tmp_path)
    assert files == 200 and read > 0 and parse > 0
    assert main_code_of_validate(tmp_path / "specs") == 0


def main_code_of_validate(folder: Path) -> int:
    from reconciler.cli import main
    from reconciler.commands._common import Streams

    return main(["validate", str(folder)], Streams(out=io.StringIO(), err=io.StringIO(), inp=None))


def test_bench_replace_small_run_sends_the_planned_writes_for_one_and_two_primaries() -> None:
    for primaries in (1, 2):
        r = bench_replace.measure(primaries, rate=200.0, lock=0.0)
        assert r.converged and r.writes == r.planned_writes == (5 if primaries == 1 else 14)
        assert r.bound > 0 and r.estimate >= r.bound and r.window >= 0
