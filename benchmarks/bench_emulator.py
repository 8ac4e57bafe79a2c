"""Emulator benchmarks: the CPU cost of opening a store, of a metadata read and update, and of a DICOM import.

Each is a ratio to a baseline measured in the same run (CPU time of this process, median of 5, interleaved):

1. Store open: ``Store(dir)`` on an existing store / a bare ``sqlite3.connect`` + one query + close of its file.
   An open that finds the store at the current schema version creates and migrates nothing. Target <= 2.5
   (~1.5; ~3.7 when every open re-ran the schema).
2. Metadata round trip: GetImageSetMetadata then UpdateImageSetMetadata of one 1,000-instance image set
   (~1.2 MB of metadata) through the real boto3 client on the in-process transport / one ``json.loads`` of
   the document's text. The store decodes and encodes the document, the client gunzips and parses
   it, and the update copies only what it changes. Target <= 9 (~7.8; ~10.4 with a
   ``copy.deepcopy`` of the document per update and a new SQLite connection per transaction).
3. DICOM import: ``import_dicom`` of pydicom's test files into a fresh store / ``pydicom.dcmread`` of the
   same files (which converts no element). Target <= 8.5 (~7; ~9.5 when pydicom converted every element).
"""

from __future__ import annotations

import gc
import gzip
import json
import sqlite3
import statistics
import sys
import tempfile
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pydicom

from benchmarks.bench_plan import document
from reconciler.demo import pydicom_test_files
from reconciler.emulator.dicom_import import import_dicom
from reconciler.emulator.knobs import EmulatorConfig
from reconciler.emulator.store import Store
from tests.support.backends import make_local_client

DS = "e" * 32
IMAGE_SET = "1" * 32
TARGETS = {"store open": 2.5, "metadata get + update": 9.0, "DICOM import": 8.5}


def cpu(fn: Callable[[], Any], repeat: int = 1) -> float:
    """CPU seconds of this process for REPEAT calls of FN."""
    gc.collect()
    start = time.process_time()
    for _ in range(repeat):
        fn()
    return time.process_time() - start


def medians(measured: Callable[[], Any], baseline: Callable[[], Any], repeat: int, rounds: int = 5
            ) -> tuple[float, float]:
    """Median CPU seconds per call of MEASURED and of BASELINE, interleaved so a noisy neighbour hits both."""
    ours, base = [], []
    for _ in range(rounds):
        ours.append(cpu(measured, repeat) / repeat)
        base.append(cpu(baseline, repeat) / repeat)
    return statistics.median(ours), statistics.median(base)


def store_open(root: Path) -> tuple[float, float]:
    held = Store(root)  # so that no close in either loop is the last one (that one checkpoints the WAL)

    def bare() -> None:
        conn = sqlite3.connect(root / "emulator.sqlite3")
        conn.execute("SELECT count(*) FROM sqlite_master").fetchone()
        conn.close()

    result = medians(lambda: Store(root), bare, 200)
    del held
    return result


def metadata_round_trip(root: Path) -> tuple[float, float]:
    store = Store(root)
    store.ensure_datastore(DS, "bench-emulator")
    doc = document(1000)
    store.put_image_set(DS, IMAGE_SET, doc, is_primary=False)
    text = json.dumps(store.get_document(DS, IMAGE_SET))
    client = make_local_client(str(root), EmulatorConfig())
    state = {"version": "1", "n": 0}

    def get_and_update() -> None:
        blob = client.get_image_set_metadata(datastoreId=DS, imageSetId=IMAGE_SET)["imageSetMetadataBlob"]
        assert json.loads(gzip.decompress(blob.read()))["ImageSetID"] == IMAGE_SET
        state["n"] += 1
        update = {"SchemaVersion": "1.1", "Study": {"DICOM": {"StudyDescription": f"BENCH {state['n']}"}}}
        answer = client.update_image_set_metadata(
            datastoreId=DS, imageSetId=IMAGE_SET, latestVersionId=state["version"],
            updateImageSetMetadataUpdates={"DICOMUpdates": {"updatableAttributes": json.dumps(update).encode()}})
        state["version"] = answer["latestVersionId"]

    result = medians(get_and_update, lambda: json.loads(text), 10)
    print(f"  ({len(text) / 1e6:.2f} MB of metadata, {state['version']} versions written)")
    return result


def dicom_import(root: Path) -> tuple[float, float]:
    folder = pydicom_test_files()
    files = sorted(p for p in folder.glob("*.dcm"))
    runs = iter(range(1_000_000))

    def imported() -> None:
        import_dicom(Store(root / f"import-{next(runs)}"), DS, [folder], warn=lambda _message: None)

    def read() -> None:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            for path in files:
                try:
                    pydicom.dcmread(path)
                except Exception:  # as import_dicom skips it
                    continue

    return medians(imported, read, 1)


def main() -> int:
    ok = True
    with tempfile.TemporaryDirectory(prefix="bench-emulator-") as tmp:
        for name, run in (("store open", store_open), ("metadata get + update", metadata_round_trip),
                          ("DICOM import", dicom_import)):
            ours, base = run(Path(tmp) / name.replace(" ", "-"))
            ratio, target = ours / base, TARGETS[name]
            print(f"{name}: {ours * 1000:.2f} ms CPU vs baseline {base * 1000:.2f} ms: ratio {ratio:.2f} "
                  f"(target <= {target:g})")
            ok = ok and ratio <= target
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
