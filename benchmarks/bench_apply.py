"""Apply benchmark (issue 5, acceptance 4): pipelining against the emulator's update rate and lock time.

20 image sets, the emulator enforcing UpdateImageSetMetadata at R requests/s (ThrottlingException above
it) and keeping each updated image set LOCKED for L seconds; the client paces itself at the same R.
A pipelined apply (a worker pool: while one image set is LOCKED the next request is already out) should
take about 20 / R + L. Target: total <= 1.25 x (20 / R + L), with no ThrottlingException reaching the
user. A strictly sequential apply (one image set at a time: send, wait, verify) is measured beside it in
the same run; it takes about 20 x (1 / R + L). R and L are the documented 0.25/s scaled up so the run
takes seconds (BENCH_APPLY_RATE, BENCH_APPLY_LOCK); the ratio does not depend on the scale.
"""

from __future__ import annotations

import math
import os
import sys
import tempfile
import time
from pathlib import Path

from benchmarks.seeding import seed_small_image_sets
from reconciler.apply.executor import ApplyOptions, Executor
from reconciler.apply.journal import Journal
from reconciler.apply.report import ApplyReport
from reconciler.client.healthimaging import HealthImaging
from reconciler.emulator.knobs import EmulatorConfig
from reconciler.plan.build import build_plan
from reconciler.plan.model import Plan
from reconciler.ratelimit import RateLimiter
from reconciler.spec.model import SpecDocument, Target
from tests.support.backends import make_local_client

COUNT = 20
RATE = float(os.environ.get("BENCH_APPLY_RATE", "5"))
LOCK = float(os.environ.get("BENCH_APPLY_LOCK", "1"))
TARGET = 1.25
READS = {"GetImageSet": 200.0, "GetImageSetMetadata": 200.0}


def _plan(root: Path, ds: str, ids: list[str]) -> Plan:
    docs = [SpecDocument("bench.yaml", i, Target(ds, image_set_id), False,
                         {"Study": {"DICOM": {"StudyDescription": "AFTER"}}}) for i, image_set_id in enumerate(ids)]
    reader = HealthImaging(make_local_client(str(root)), limiter=RateLimiter(READS))
    return build_plan(docs, reader)


def _apply(parallelism: int) -> tuple[float, ApplyReport, int]:
    """Seed a fresh store, plan it, and time the apply alone. Returns (seconds, report, throttle retries)."""
    with tempfile.TemporaryDirectory(prefix="bench-apply-") as tmp:
        root = Path(tmp) / "store"
        ds, ids = seed_small_image_sets(root, "bench-apply", COUNT, "BENCH")
        plan = _plan(root, ds, ids)
        config = EmulatorConfig(lock_seconds=LOCK, rates={"UpdateImageSetMetadata": RATE})
        api = HealthImaging(make_local_client(str(root), config),
                            limiter=RateLimiter({"UpdateImageSetMetadata": RATE, **READS}))
        with Journal(Path(tmp) / "journal.jsonl") as journal:
            executor = Executor(api, journal, options=ApplyOptions(parallelism=parallelism))
            start = time.perf_counter()
            report = executor.run(plan)
            elapsed = time.perf_counter() - start
        return elapsed, report, sum(api.stats.retries().values())


def main() -> int:
    ideal = COUNT / RATE + LOCK
    workers = max(8, math.ceil(RATE * LOCK) + 2)  # enough requests in flight to cover one lock time
    pipelined, report, retries = _apply(workers)
    sequential, seq_report, _ = _apply(1)
    throttled = [r for r in report.results + seq_report.results if r.status != "converged"]
    ratio = pipelined / ideal
    print(f"apply {COUNT} image sets, update rate {RATE:g}/s, lock {LOCK:g} s, parallelism {workers}")
    print(f"  pipelined : {pipelined:6.2f} s = {ratio:.2f} x (20/R + L = {ideal:.2f} s)  target <= {TARGET}")
    print(f"  sequential: {sequential:6.2f} s = {sequential / ideal:.2f} x; pipelining is "
          f"{sequential / pipelined:.1f}x faster")
    print(f"  retries absorbed by the client: {retries}; image sets not converged: {len(throttled)}")
    ok = ratio <= TARGET and not throttled and report.exit_code == 0
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
