"""Apply benchmark (issue 5, acceptance 4; issue 12, pacing): pipelining against the emulator's update rate
and lock time, on a lenient server and on a strict one.

20 image sets, the emulator enforcing UpdateImageSetMetadata at R requests/s (ThrottlingException above
it) and keeping each updated image set LOCKED for L seconds; the client paces itself at the same R. A
pipelined apply (a worker pool: while one image set is LOCKED the next request is already out) should
take about 20 / R + L (the ideal). Two servers, each run in the same process:

* lenient: the emulator's default burst, one second's worth of requests (``--rate OP=R``). Target:
  <= 1.25 x the ideal, no ThrottlingException reaching the user. A strictly sequential apply (one image
  set at a time: send, wait, verify) is measured beside it; it takes about 20 x (1 / R + L).
* strict: a burst of exactly 1 (``--rate OP=R:1``), as the real UpdateImageSetMetadata quota (0.25/s,
  burst 1): an update that comes a moment early is refused, so jitter between the client's clock and the
  server's turns pacing at exactly the quota into throttles. The client is told the same ``R:1``.
  Target: 0 ThrottlingExceptions answered by the emulator and <= 1.25 x the ideal.

Throttles are counted by the emulator itself. R and L are the documented 0.25/s scaled up so the runs
take seconds (BENCH_APPLY_RATE, BENCH_APPLY_STRICT_RATE, BENCH_APPLY_LOCK); the ratios do not depend on
the scale.

Then three accounts the client is not told about, which it learns (``benchmarks.accounts``): 10/s burst 40,
0.25/s burst 1 and 0.25/s burst 10, each run with `emulator serve --rate` (BENCH_APPLY_ACCOUNTS=TEXT runs
only those whose name holds TEXT, e.g. "burst 40"; "none" skips them).
"""

from __future__ import annotations

import math
import os
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from benchmarks.accounts import run_accounts
from benchmarks.seeding import seed_small_image_sets
from reconciler.apply.executor import ApplyOptions, Executor
from reconciler.apply.journal import Journal
from reconciler.apply.report import ApplyReport
from reconciler.client.backends import BackendOptions
from reconciler.client.healthimaging import HealthImaging
from reconciler.emulator.knobs import EmulatorConfig
from reconciler.plan.build import build_plan
from reconciler.plan.model import Plan
from reconciler.ratelimit import RateLimiter
from reconciler.spec.model import SpecDocument, Target
from tests.support.backends import connect_local, make_local_client

COUNT = 20
RATE = float(os.environ.get("BENCH_APPLY_RATE", "5"))
STRICT_RATE = float(os.environ.get("BENCH_APPLY_STRICT_RATE", "5"))
LOCK = float(os.environ.get("BENCH_APPLY_LOCK", "1"))
TARGET = 1.25
READS = {"GetImageSet": 200.0, "GetImageSetMetadata": 200.0}
UPDATE = "UpdateImageSetMetadata"


@dataclass(frozen=True)
class Run:
    seconds: float
    report: ApplyReport
    throttles: int  # ThrottlingExceptions the emulator answered for UpdateImageSetMetadata
    retries: int  # retries the client absorbed, of every operation


def _plan(root: Path, ds: str, ids: list[str]) -> Plan:
    docs = [SpecDocument("bench.yaml", i, Target(ds, image_set_id), False,
                         {"Study": {"DICOM": {"StudyDescription": "AFTER"}}}) for i, image_set_id in enumerate(ids)]
    reader = HealthImaging(make_local_client(str(root)), limiter=RateLimiter(READS))
    return build_plan(docs, reader)


def _apply(parallelism: int, rate: float, burst: float | None) -> Run:
    """Seed a fresh store, plan it, and time the apply alone, the client built as the CLI builds it for
    ``--local DIR --rate UpdateImageSetMetadata=RATE[:BURST]`` and the emulator enforcing the same."""
    bursts = {UPDATE: burst} if burst is not None else {}
    with tempfile.TemporaryDirectory(prefix="bench-apply-") as tmp:
        root = Path(tmp) / "store"
        ds, ids = seed_small_image_sets(root, "bench-apply", COUNT, "BENCH")
        plan = _plan(root, ds, ids)
        config = EmulatorConfig(lock_seconds=LOCK, rates={UPDATE: rate}, bursts=bursts)
        options = BackendOptions(local_dir=str(root), rates={UPDATE: rate, **READS}, bursts=bursts,
                                 parallelism=parallelism)
        api, emulator = connect_local(options, config)
        with Journal(Path(tmp) / "journal.jsonl") as journal:
            executor = Executor(api, journal, options=ApplyOptions(parallelism=parallelism))
            start = time.perf_counter()
            report = executor.run(plan)
            elapsed = time.perf_counter() - start
        throttles = emulator.knobs.throttles().get(UPDATE, 0)
        return Run(elapsed, report, throttles, sum(api.stats.retries().values()))


def _workers(rate: float) -> int:
    return max(8, math.ceil(rate * LOCK) + 2)  # enough requests in flight to cover one lock time


def _unconverged(*runs: Run) -> int:
    return sum(r.status != "converged" for run in runs for r in run.report.results)


def main() -> int:
    ideal = COUNT / RATE + LOCK
    workers = _workers(RATE)
    lenient = _apply(workers, RATE, None)
    sequential = _apply(1, RATE, None)
    strict_ideal = COUNT / STRICT_RATE + LOCK
    strict = _apply(_workers(STRICT_RATE), STRICT_RATE, 1.0)
    ratio, strict_ratio = lenient.seconds / ideal, strict.seconds / strict_ideal
    print(f"apply {COUNT} image sets, lock {LOCK:g} s, parallelism {workers}")
    print(f"  lenient server (update rate {RATE:g}/s, burst {max(1.0, RATE):g}):")
    print(f"    pipelined : {lenient.seconds:6.2f} s = {ratio:.2f} x (20/R + L = {ideal:.2f} s)  target <= {TARGET}")
    print(f"    sequential: {sequential.seconds:6.2f} s = {sequential.seconds / ideal:.2f} x; pipelining is "
          f"{sequential.seconds / lenient.seconds:.1f}x faster")
    print(f"    throttles answered by the emulator: {lenient.throttles} (pipelined), {sequential.throttles} "
          f"(sequential); retries absorbed by the client: {lenient.retries}")
    print(f"  strict server (update rate {STRICT_RATE:g}/s, burst 1; the client told {STRICT_RATE:g}:1):")
    print(f"    pipelined : {strict.seconds:6.2f} s = {strict_ratio:.2f} x (20/R + L = {strict_ideal:.2f} s)  "
          f"target <= {TARGET}")
    print(f"    throttles answered by the emulator: {strict.throttles}  target 0; retries absorbed by the client: "
          f"{strict.retries}")
    failed = _unconverged(lenient, sequential, strict)
    print(f"  image sets not converged: {failed}")
    ok = (ratio <= TARGET and strict_ratio <= TARGET and strict.throttles == 0 and not failed
          and lenient.report.exit_code == 0 and strict.report.exit_code == 0)
    only = os.environ.get("BENCH_APPLY_ACCOUNTS")
    if only != "none":
        ok = run_accounts(only) and ok
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
