"""Fleet drift with a drift state (issue 15), against the in-process emulator with the real boto3 client.

N image sets (default 100,000), imported three months ago and in the archive tier, each named by one spec
document and in sync. The documented read quotas (GetImageSet and SearchImageSets 25/s, GetImageSetMetadata
50/s) are enforced by the emulator and paced by the client, all scaled by one factor (BENCH_DRIFT_SCALE,
default 10: fast enough to fit in minutes, slow enough that the quota, not this machine, is the wall).

1. A full drift run writes the state. A month passes (every image set is back in the archive tier), and
   0.1 % of the image sets are changed outside the tool. An incremental run follows, then a --refresh run.
   Targets: the incremental run reports exactly the image sets (and changes) the --refresh run reports; it
   makes at most (changed + search pages + 10) GetImageSet and GetImageSetMetadata requests; it moves no
   unchanged image set to Frequent Access; its time is at most 2 % of the full run's.
2. Memory: tracemalloc peak of an incremental run (state loaded, plan, state written) at 25,000 and at
   N image sets. The run keeps one small record per image set (its plan entry and its state entry, about
   a kilobyte together) and never a metadata document, so its peak grows with N by that record and by
   nothing else. Target: peak per image set at N / peak per image set at 25,000 <= 1.25 (no growth
   beyond the records: no document, no page or window held). Printed as well: the working memory
   (peak minus the results), which is not flat in N either, for the old state is held until the new one
   is written.
"""

from __future__ import annotations

import gc
import os
import sqlite3
import sys
import tempfile
import time
import tracemalloc
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from reconciler.api import BackendIdentity
from reconciler.client.healthimaging import HealthImaging
from reconciler.emulator.knobs import EmulatorConfig
from reconciler.emulator.store import NewVersion, Store
from reconciler.persist import Storage
from reconciler.plan.build import build_plan
from reconciler.plan.cost import Cost, cost_of
from reconciler.plan.incremental import Incremental, next_state
from reconciler.plan.model import Plan
from reconciler.plan.state import DriftState, StateKey, load, save
from reconciler.ratelimit import RateLimiter
from reconciler.spec.model import SpecDocument, Target
from tests.support.backends import make_local_client

DS = "d" * 32
N = int(os.environ.get("BENCH_DRIFT_N", "100000"))
SMALL = int(os.environ.get("BENCH_DRIFT_SMALL", "25000"))
SCALE = float(os.environ.get("BENCH_DRIFT_SCALE", "10"))
QUOTAS = {"GetImageSet": 25.0, "GetImageSetMetadata": 50.0, "SearchImageSets": 25.0}
DAY = 86400.0
KEY = StateKey(b"bench_drift: the secret that keys the state")
DESIRED = {"Study": {"DICOM": {"StudyDescription": "CT CHEST"}}}


def document(n: int) -> dict[str, Any]:
    return {"Patient": {"DICOM": {"PatientName": f"BENCH^{n}", "PatientID": f"P{n}"}},
            "Study": {"DICOM": {"StudyInstanceUID": f"1.2.826.0.1.{n}", "StudyDescription": "CT CHEST "},
                      "Series": {f"1.2.826.0.1.{n}.1": {"DICOM": {"Modality": "CT"}, "Instances": {}}}}}


def ids(count: int) -> list[str]:
    return [f"{n:032x}" for n in range(1, count + 1)]


def seed(root: Path, count: int) -> Store:
    """COUNT image sets created 90 days ago, a millisecond apart, last accessed 60 days ago: archived."""
    store = Store(root)
    store.ensure_datastore(DS, "fleet")
    base = time.time() - 90 * DAY
    store.put_many(DS, ((i, document(n), base + n / 1000, base + 30 * DAY) for n, i in enumerate(ids(count))),
                   is_primary=False)
    return store


def specs(count: int) -> list[SpecDocument]:
    """One document per image set, each with its own desired tree, as loading YAML makes them."""
    return [SpecDocument(f"specs/{n // 1000}.yaml", n % 1000, Target(DS, i), False,
                         {"Study": {"DICOM": dict(DESIRED["Study"]["DICOM"])}}) for n, i in enumerate(ids(count))]


def client(root: Path, scale: float) -> HealthImaging:
    rates = {op: q * scale for op, q in QUOTAS.items()}
    return HealthImaging(make_local_client(str(root), EmulatorConfig(rates=rates)), limiter=RateLimiter(rates))


@dataclass
class Run:
    plan: Plan
    state: DriftState
    seconds: float
    cost: Cost


def drift(api: HealthImaging, docs: list[SpecDocument], location: str, backend: BackendIdentity,
          *, refresh: bool = False) -> Run:
    """One drift run as `reconciler drift --state` makes it: open the state, plan, write the new state."""
    calls, retries = api.stats.calls(), api.stats.retries()
    started = time.perf_counter()
    loaded = load(location, KEY, backend, Storage())
    plan = build_plan(docs, api, parallelism=8, incremental=Incremental(KEY, loaded.state, refresh=refresh))
    state = next_state(loaded.state, plan, KEY, backend)
    save(state, location, KEY, Storage())
    seconds = time.perf_counter() - started
    now_calls, now_retries = api.stats.calls(), api.stats.retries()
    cost = cost_of({k: v - calls.get(k, 0) for k, v in now_calls.items()},
                   {k: v - retries.get(k, 0) for k, v in now_retries.items()}, plan.tier_ups)
    return Run(plan, state, seconds, cost)


def a_month_passes(store: Store) -> None:
    """Nothing is accessed for 40 days: every image set is back in the archive tier."""
    with sqlite3.connect(store.path) as conn:
        conn.execute("UPDATE image_sets SET last_accessed_at = ?", (time.time() - 40 * DAY,))


def change_outside(store: Store, targets: list[str]) -> None:
    def build(doc: dict[str, Any]) -> NewVersion:
        doc["Study"]["DICOM"]["StudyDescription"] = "CHANGED BY HAND"
        return NewVersion(doc, "UPDATED")

    for i in targets:
        store.commit_update(DS, i, 1, build, now=time.time(), lock_until=0.0)


def woken(store: Store, unchanged: set[str], since: float) -> int:
    """Unchanged image sets accessed (so moved to Frequent Access) after SINCE."""
    with sqlite3.connect(store.path) as conn:
        rows = conn.execute("SELECT image_set_id FROM image_sets WHERE last_accessed_at >= ?", (since,)).fetchall()
    return sum(1 for (i,) in rows if i in unchanged)


def reported(plan: Plan) -> set[tuple[str, str, tuple[Any, ...]]]:
    return {(p.image_set_id, p.action, tuple((c.op, c.path) for c in p.changes))
            for p in plan.image_sets if p.action != "none"}


def quota_time(cost: Cost) -> float:
    """Seconds the requests of COST take at the documented quotas (each operation paced on its own)."""
    return max(cost.metadata_reads / QUOTAS["GetImageSetMetadata"], cost.image_set_reads / QUOTAS["GetImageSet"],
               cost.search_pages / QUOTAS["SearchImageSets"])


def reads(cost: Cost) -> int:
    return cost.metadata_reads + cost.image_set_reads


def bench_fleet(tmp: Path) -> bool:
    store = seed(tmp / "store", N)
    api = client(tmp / "store", SCALE)
    backend = BackendIdentity("local", str((tmp / "store").resolve()))
    docs, location = specs(N), str(tmp / "state.jsonl")
    full = drift(api, docs, location, backend)
    a_month_passes(store)
    changed = ids(N)[:: 1000][: N // 1000]
    change_outside(store, changed)
    before = time.time()
    incremental = drift(api, docs, location, backend)
    unchanged = set(ids(N)) - set(changed)
    woke = woken(store, unchanged, before)
    refresh = drift(api, docs, location, backend, refresh=True)
    same = reported(incremental.plan) == reported(refresh.plan) and len(reported(refresh.plan)) == len(changed)
    bound = len(changed) + incremental.cost.search_pages + 10
    ratio = incremental.seconds / full.seconds
    quota_full = N / (QUOTAS["GetImageSet"] * SCALE)
    rates = ", ".join(f"{op} {q * SCALE:g}/s" for op, q in QUOTAS.items())
    print(f"fleet: {N:,} image sets, read quotas x{SCALE:g} ({rates}); {len(changed)} changed outside the tool")
    for name, run in (("full", full), ("incremental", incremental), ("refresh", refresh)):
        c = run.cost
        print(f"  {name:<11} {run.seconds:8.1f} s  {c.metadata_reads:>7,} metadata + {c.image_set_reads:>7,} "
              f"GetImageSet reads, {c.search_pages:>4} search pages, {c.tier_ups:>7,} moved to Frequent Access")
    print(f"  full run quota-bound at {quota_full:.0f} s (GetImageSet at {QUOTAS['GetImageSet'] * SCALE:g}/s); at the "
          f"documented quotas: {N / QUOTAS['GetImageSet'] / 60:.0f} min full, about "
          f"{quota_time(incremental.cost):.0f} s of requests incremental")
    print(f"  incremental reports what --refresh reports: {same} ({len(reported(incremental.plan))} image sets)")
    print(f"  incremental reads {reads(incremental.cost)} <= changed + search pages + 10 = {bound}: "
          f"{reads(incremental.cost) <= bound}")
    print(f"  unchanged image sets moved to Frequent Access by the incremental run: {woke} (target 0)")
    print(f"  incremental / full wall time: {ratio:.2%} (target <= 2%)")
    return same and reads(incremental.cost) <= bound and woke == 0 and incremental.cost.tier_ups == 0 and ratio <= 0.02


def _working_memory(tmp: Path, count: int) -> tuple[int, int]:
    """(peak, retained) bytes of an incremental run over COUNT image sets with a written state."""
    store_dir = tmp / f"memory-{count}"
    seed(store_dir, count)
    api = client(store_dir, 1_000_000.0)  # no quota: only memory is measured here
    backend = BackendIdentity("local", str(store_dir.resolve()))
    docs, location = specs(count), str(tmp / f"memory-{count}.jsonl")
    drift(api, docs, location, backend)
    gc.collect()
    tracemalloc.start()
    run = drift(api, docs, location, backend)
    current, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert run.cost.metadata_reads == 0, run.cost
    return peak, current


def bench_memory(tmp: Path) -> bool:
    (small, kept_small), (large, kept_large) = _working_memory(tmp, SMALL), _working_memory(tmp, N)
    per_small, per_large = small / SMALL, large / N
    ratio = per_large / per_small
    print(f"memory: tracemalloc peak of an incremental run over {SMALL:,} image sets {small / 1e6:.1f} MB "
          f"({per_small:.0f} bytes per image set), over {N:,} {large / 1e6:.1f} MB ({per_large:.0f} bytes per "
          f"image set): ratio per image set {ratio:.2f} (target <= 1.25); the results (plan and state) hold "
          f"{kept_large / N:.0f} bytes per image set, working memory (peak minus results) "
          f"{(small - kept_small) / 1e6:.1f} / {(large - kept_large) / 1e6:.1f} MB")
    return ratio <= 1.25


def _tmp() -> Iterator[Path]:
    with tempfile.TemporaryDirectory(prefix="bench-drift-") as tmp:
        yield Path(tmp)


def main() -> int:
    ok = True
    for bench in (bench_fleet, bench_memory):
        for tmp in _tmp():
            ok = bench(tmp) and ok
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
