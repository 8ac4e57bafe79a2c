"""Replacement benchmark (issue 19): the writes and the time of replacing a study whose Patient-level
metadata must change, with 1, 2 and 4 primary image sets, at the documented write quota.

UpdateImageSetMetadata, CopyImageSet and DeleteImageSet are each limited to 0.25 requests per second with a
burst of 1 (https://docs.aws.amazon.com/healthimaging/latest/devguide/throttling-limits.html); the emulator
enforces that quota (scaled up by BENCH_REPLACE_RATE so a run takes seconds; the ratios do not depend on the
scale) and the client paces at it. One primary is replaced alone (copy, update, delete, promote, delete: 5
writes); 2 and 4 primaries are one replacement group (``reconciler.plan.group``: each member also keeps a
pristine copy, 7 writes each), in the order copy and update every member, verify, delete every original,
promote every copy.

Printed per study, as ratios measured in the same run:

* writes sent / writes the plan announced (target 1.00);
* time / the quota bound: each operation's writes at its own rate (the quotas are per operation, so no
  client can send them faster); and time / the plan's estimate (every write paced one after the other, as
  the plan shows it; target <= 1.25, so the plan does not understate the time);
* the window without a primary image set (from the first original's deletion to the last promotion, read
  from the journal) / the plan's estimate of it (one deletion and one promotion per member).
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from reconciler.apply.executor import ApplyOptions, Executor
from reconciler.apply.journal import Journal, read_journal
from reconciler.client.backends import BackendOptions
from reconciler.emulator.knobs import EmulatorConfig
from reconciler.emulator.store import Store
from reconciler.plan.build import build_plan
from reconciler.render.replacement import Rates, plan_writes
from reconciler.spec.model import SourcePos, SpecDocument, Target
from tests.support.backends import connect_local

RATE = float(os.environ.get("BENCH_REPLACE_RATE", "2"))  # the documented 0.25/s, scaled
LOCK = float(os.environ.get("BENCH_REPLACE_LOCK", "0.05"))
SIZES = (1, 2, 4)
TARGET = 1.25
DS = "7" * 32
STUDY = "1.2.840.19.0"
WRITES = ("UpdateImageSetMetadata", "CopyImageSet", "DeleteImageSet")
READS = {"GetImageSet": 500.0, "GetImageSetMetadata": 500.0, "SearchImageSets": 500.0}


@dataclass(frozen=True)
class Result:
    primaries: int
    planned_writes: int
    writes: int
    seconds: float
    bound: float  # the quota bound: each operation's writes at its own rate
    estimate: float  # the plan's estimate: every write paced one after the other
    window: float  # seconds without a primary image set (journal)
    window_bound: float
    converged: bool


def _document(n: int) -> dict[str, object]:
    series = {f"1.2.840.19.{n}.{s}": {"DICOM": {"Modality": "CT", "SeriesNumber": s},
                                      "Instances": {f"1.2.840.19.{n}.{s}.{i}": {"DICOM": {"InstanceNumber": i}}
                                                    for i in range(1, 4)}} for s in (1, 2)}
    return {"SchemaVersion": "1.1", "Patient": {"DICOM": {"PatientName": "BENCH^OLD", "PatientID": "B19"}},
            "Study": {"DICOM": {"StudyInstanceUID": STUDY, "StudyDescription": "BENCH"}, "Series": series}}


def measure(primaries: int, rate: float = RATE, lock: float = LOCK) -> Result:
    """Seed a study of PRIMARIES primary image sets, plan the Patient-level fix, time its apply."""
    with tempfile.TemporaryDirectory(prefix="bench-replace-") as tmp:
        root = Path(tmp) / "store"
        store = Store(root)
        store.ensure_datastore(DS, "bench-replace")
        for n in range(primaries):
            store.put_image_set(DS, f"{n + 1:032x}", _document(n + 1))
        quota = {op: rate for op in WRITES}
        config = EmulatorConfig(lock_seconds=lock, rates=quota, bursts={op: 1.0 for op in WRITES})
        options = BackendOptions(local_dir=str(root), rates={**quota, **READS}, bursts={op: 1.0 for op in WRITES})
        api, _emulator = connect_local(options, config)
        doc = SpecDocument("bench.yaml", 0, Target(DS, select=("DICOMStudyInstanceUID", STUDY)), False,
                           {"Patient": {"DICOM": {"PatientName": "BENCH^NEW"}}},
                           replace=SourcePos("bench.yaml", 5, 1))
        plan = build_plan([doc], api)
        planned, rates = plan_writes(plan), Rates(rate, rate, rate)
        before = api.stats.calls()
        with Journal(Path(tmp) / "journal.jsonl") as journal:
            start = time.perf_counter()
            report = Executor(api, journal, options=ApplyOptions(parallelism=4)).run(plan)
            elapsed = time.perf_counter() - start
        calls, retries = api.stats.calls(), api.stats.retries()
        sent = sum(calls.get(op, 0) - before.get(op, 0) - retries.get(op, 0) for op in WRITES)
        records = read_journal(Path(tmp) / "journal.jsonl")
        deleted = [float(r["ts"]) for r in records if r["event"] == "primary_deleting"]
        promoted = [float(r["ts"]) for r in records if r["event"] == "promoted"]
        window = max(promoted) - min(deleted) if deleted and promoted else 0.0
        bound = max(planned.updates, planned.copies, planned.deletes) / rate
        return Result(primaries, planned.total, sent, elapsed, bound, planned.seconds(rates), window,
                      primaries / rate + primaries / rate,
                      report.exit_code == 0 and all(r.replaced_by for r in report.results))


def main() -> int:
    print(f"replace a study's Patient-level metadata at the write quota ({RATE:g}/s for each of UpdateImageSetMetadata,"
          f" CopyImageSet and DeleteImageSet, burst 1; lock {LOCK:g} s)")
    ok = True
    for n in SIZES:
        r = measure(n)
        ratio, window = r.seconds / r.estimate, r.window / r.window_bound
        print(f"  {n} primar{'y' if n == 1 else 'ies'}: {r.writes} writes = {r.writes / r.planned_writes:.2f} x the "
              f"{r.planned_writes} planned; {r.seconds:6.2f} s = {r.seconds / r.bound:.2f} x the quota bound "
              f"({r.bound:.2f} s) = {ratio:.2f} x the plan's estimate ({r.estimate:.2f} s, target <= {TARGET}); "
              f"no primary for {r.window:.2f} s = {window:.2f} x the plan's estimate ({r.window_bound:.2f} s)"
              f"{'' if r.converged else '  NOT CONVERGED'}")
        ok = ok and r.converged and r.writes == r.planned_writes and ratio <= TARGET
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
