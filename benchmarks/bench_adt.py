"""ADT feed benchmark (issue 22): `reconciler adt read` of 10,000 A08 messages, one file, one run.

Each message corrects a different patient (name, birth date, sex; PID-3 with an MR identifier and a second
one), and the datastore holds one image set of each patient, so every message costs a python-hl7 parse, the
mapping, its share of the one listing of the datastore (SearchImageSets pages through the real boto3 client,
answered in process by the emulator, whose CPU time is counted too) and a spec file written. The messages
name no assigning authority: one that does costs a GetImageSetMetadata per image set of its patient (the
issuer check), about 1 ms each in process. Client pacing is lifted (``--rate SearchImageSets=...``).

Measured in CPU seconds of this process (``time.process_time``), so that other work on a shared machine does
not count: messages per CPU second, the goal being >= 1,000 on one core (a busy hospital sends a few a
second). Baseline in the same run: python-hl7 parsing the same messages alone, the floor for any reader
built on it; the ratio read / parse says what the rest costs.
"""

from __future__ import annotations

import gc
import io
import os
import sys
import tempfile
import time
from pathlib import Path

import hl7

from reconciler.cli import main as cli
from reconciler.commands._common import Streams
from reconciler.emulator.store import Store

DS = "be" * 16
COUNT = int(os.environ.get("BENCH_ADT_N", "10000"))
GOAL = 1000.0  # messages per CPU second


def message(n: int) -> str:
    return (f"MSH|^~\\&|REG|HOSP|RECON|IMG|20240301101500||ADT^A08^ADT_A01|MSG{n:08d}|P|2.5.1\r"
            f"EVN|A08|20240301101500\r"
            f"PID|1||{n:08d}^^^^MR~SS{n}^^^SSA^SS||DOE\\T\\CO^JANE^Q^JR^DR||19800101{n % 24:02d}30|F\r"
            f"PV1|1|O\r")


def seed(root: Path, count: int) -> None:
    store = Store(root)
    store.ensure_datastore(DS, "adt")
    now = time.time()
    docs = ((f"{n:032x}", {"Patient": {"DICOM": {"PatientID": f"{n:08d}", "PatientName": "OLD^NAME"}},
                           "Study": {"DICOM": {"StudyInstanceUID": f"1.2.826.0.1.{n}"}, "Series": {}}}, now, now)
            for n in range(count))
    store.put_many(DS, docs, is_primary=False)


def run_read(source: Path, specs: Path, store: Path) -> tuple[int, str]:
    err = io.StringIO()
    code = cli(["adt", "read", str(source), "--specs", str(specs), "--datastore-id", DS, "--local", str(store),
                "--rate", "SearchImageSets=1000000", "--rate", "GetImageSetMetadata=1000000"],
               Streams(out=io.StringIO(), err=err, inp=None))
    return code, err.getvalue()


def measure(count: int, work: Path) -> tuple[float, float, int]:
    """(CPU seconds of adt read, CPU seconds of parsing alone, spec files written)."""
    seed(work / "store", count)
    messages = [message(n) for n in range(count)]
    source = work / "a08.hl7"
    source.write_text("".join(messages), encoding="utf-8")
    gc.collect()
    start = time.process_time()
    for text in messages:
        hl7.parse(text)
    parse = time.process_time() - start
    gc.collect()
    start = time.process_time()
    code, err = run_read(source, work / "specs", work / "store")
    read = time.process_time() - start
    assert code == 0, err[-2000:]
    return read, parse, len(list((work / "specs").glob("adt-*.yaml")))


def main() -> int:
    with tempfile.TemporaryDirectory(prefix="bench_adt-") as tmp:
        read, parse, files = measure(COUNT, Path(tmp))
    assert files == COUNT, files
    rate = COUNT / read
    print(f"adt read: {COUNT:,} A08 messages, {files:,} spec files: {read:.1f} CPU s, {rate:,.0f} messages per CPU "
          f"second (goal >= {GOAL:,.0f}); python-hl7 parsing alone (baseline, same run): {COUNT / parse:,.0f}/s; "
          f"ratio read / parse {read / parse:.1f}")
    return 0 if rate >= GOAL else 1


if __name__ == "__main__":
    sys.exit(main())
