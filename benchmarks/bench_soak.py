"""Soak benchmark (issue 7, acceptance 7): 1,000 image sets planned and applied through 5 % injected faults.

The in-process emulator enforces UpdateImageSetMetadata at R requests/s (ThrottlingException above it),
keeps each updated image set LOCKED for L seconds, and injects faults on every operation: throttle,
500 and dropped connections (5 % of calls together), plus UPDATE_FAILED on 1.25 % of updates. The
client paces itself at the same R. Failed image sets are re-planned and re-applied (at most PASSES runs),
as an operator re-running `reconciler apply` would.

Printed: the apply throughput as a fraction of the quota bound R (the time R allows for the updates
that took effect, after the bucket's initial burst, over the apply time; target >= 0.7 in the first
pass), and the lost updates, counted from the store itself: an image set whose final document does
not hold its spec, or whose history does not hold exactly one successful update (lost, or applied
twice); target 0. R and L are the documented 0.25/s scaled up so the run takes well under a minute
(BENCH_SOAK_RATE, BENCH_SOAK_LOCK, BENCH_SOAK_COUNT).
"""

from __future__ import annotations

import math
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from benchmarks.seeding import seed_small_image_sets
from reconciler.apply.executor import ApplyOptions, Executor
from reconciler.apply.journal import Journal
from reconciler.apply.report import ApplyReport
from reconciler.apply.waiter import WaitPolicy
from reconciler.client.healthimaging import HealthImaging
from reconciler.emulator.knobs import EmulatorConfig
from reconciler.emulator.store import Store
from reconciler.plan.build import build_plan
from reconciler.ratelimit import RateLimiter, RetryPolicy
from reconciler.spec.model import SpecDocument, Target
from tests.support.backends import make_local_client

COUNT = int(os.environ.get("BENCH_SOAK_COUNT", "1000"))
RATE = float(os.environ.get("BENCH_SOAK_RATE", "50"))
LOCK = float(os.environ.get("BENCH_SOAK_LOCK", "0.05"))
FAULT = 0.05  # throttle + 500 + drop together, on every operation
PASSES = 5
THROUGHPUT_TARGET = 0.7
READS = {"GetImageSet": 500.0, "GetImageSetMetadata": 500.0}
FAULTS = {
    "*": [("throttle", FAULT / 3), ("500", FAULT / 3), ("drop", FAULT / 3)],
    "UpdateImageSetMetadata": [("update_failed", FAULT / 4)],
}


def _desired(n: int) -> dict[str, Any]:
    return {"Patient": {"DICOM": {"PatientName": f"AFTER^{n}"}}, "Study": {"DICOM": {"StudyDescription": None}}}


def _holds(doc: dict[str, Any], n: int) -> bool:
    return bool(doc["Patient"]["DICOM"].get("PatientName") == f"AFTER^{n}"
                and "StudyDescription" not in doc["Study"]["DICOM"])


def _lost_updates(root: Path, ds: str, ids: list[str]) -> int:
    """Image sets whose final document misses the spec, or whose history has other than one real update."""
    store = Store(root)
    lost = 0
    for n, image_set_id in enumerate(ids):
        rows = store.list_versions(ds, image_set_id, now=time.time() + 3600)
        updated = [r for r in rows if r.workflow_status == "UPDATED"]
        if len(updated) != 1 or not _holds(store.get_document(ds, image_set_id), n):
            lost += 1
    return lost


def _pass(
    api: HealthImaging, docs: list[SpecDocument], journal: Path, workers: int
) -> tuple[float, float, ApplyReport]:
    """Plan and apply DOCS once; returns (plan seconds, apply seconds, report)."""
    start = time.perf_counter()
    plan = build_plan(docs, api, parallelism=workers)
    planned = time.perf_counter()
    wait = WaitPolicy(initial=LOCK, factor=1.6, max_interval=max(0.5, 4 * LOCK))
    with Journal(journal) as j:
        report = Executor(api, j, options=ApplyOptions(parallelism=workers, wait=wait)).run(plan)
    return planned - start, time.perf_counter() - planned, report


def main() -> int:
    workers = max(16, math.ceil(RATE * (LOCK + 4 / 500)) * 4)  # cover lock time and the reads around it
    with tempfile.TemporaryDirectory(prefix="bench-soak-") as tmp:
        root = Path(tmp) / "store"
        ds, ids = seed_small_image_sets(root, "bench-soak", COUNT, "SOAK")
        config = EmulatorConfig(lock_seconds=LOCK, rates={"UpdateImageSetMetadata": RATE}, faults=FAULTS, seed=7)
        api = HealthImaging(make_local_client(str(root), config),
                            limiter=RateLimiter({"UpdateImageSetMetadata": RATE, **READS}),
                            retry=RetryPolicy(max_attempts=8, base=0.02, cap=0.5, max_total=30.0))
        docs = [SpecDocument(f"soak/{n}.yaml", 0, Target(ds, i), False, _desired(n)) for n, i in enumerate(ids)]
        remaining, passes, first = docs, 0, None
        while remaining and passes < PASSES:
            passes += 1
            plan_s, apply_s, report = _pass(api, remaining, Path(tmp) / f"journal-{passes}.jsonl", workers)
            if first is None:
                first = (plan_s, apply_s, report)
            failed = {r.image_set_id for r in report.results if r.status not in ("converged", "unchanged")}
            remaining = [d for d in remaining if d.target.image_set_id in failed]
        assert first is not None
        plan_s, apply_s, report = first
        took_effect = report.count("converged")
        # the quota bound: the emulator's bucket starts full (burst max(1, R)), then admits R per second
        bound_s = max(0.0, took_effect - max(1.0, RATE)) / RATE
        fraction = bound_s / apply_s if apply_s else 0.0
        lost = _lost_updates(root, ds, ids)
        retries = api.stats.retries()
    print(f"soak: {COUNT} image sets, update rate {RATE:g}/s, lock {LOCK:g} s, faults {FAULT:.0%} of calls "
          f"(+{FAULT / 4:.2%} UPDATE_FAILED), parallelism {workers}")
    print(f"  pass 1 plan : {plan_s:6.2f} s ({COUNT / plan_s:.0f} image sets/s)")
    print(f"  pass 1 apply: {apply_s:6.2f} s, {took_effect} converged, {report.count('failed')} failed, "
          f"{report.count('stale')} stale")
    print(f"  throughput  : {fraction:.2f} x the quota bound ({RATE:g} updates/s after a burst of {max(1.0, RATE):g}: "
          f"{bound_s:.2f} s)  target >= {THROUGHPUT_TARGET}")
    print(f"  passes until converged: {passes} (of at most {PASSES}); unconverged left: {len(remaining)}")
    print(f"  retries absorbed by the client: {sum(retries.values())} "
          f"({', '.join(f'{op} {n}' for op, n in sorted(retries.items()))})")
    print(f"  lost or doubled updates: {lost}  target 0")
    ok = fraction >= THROUGHPUT_TARGET and lost == 0 and not remaining and report.count("stale") == 0
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
