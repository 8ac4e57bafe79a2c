"""Version diff benchmark (issue 14): the whole-document diff behind `revert` and `history --diff`.

Two versions of one 5,000-instance image set (~6 MB of metadata), each parsed from its own JSON text
as GetImageSetMetadata would give it, differing in a few attributes (a patient name, a padded value, a
removed instance, a series description). The diff is timed against one json.loads of the document,
measured in the same run. Target: diff / parse <= 2.0 (equal subtrees pruned before deepdiff runs).
"""

from __future__ import annotations

import gc
import json
import statistics
import sys
import time
from typing import Any

from benchmarks.bench_plan import document
from reconciler.plan.versiondiff import diff_versions

SERIES = "1.2.826.0.1.3680043.8.498.1"
TARGET = 2.0


def changed(doc: dict[str, Any]) -> dict[str, Any]:
    """A copy of DOC with a few changes spread over the document; one more is padding only."""
    new: dict[str, Any] = json.loads(json.dumps(doc))
    new["Patient"]["DICOM"]["PatientName"] = "BENCH^RENAMED"
    series = new["Study"]["Series"][SERIES]
    series["DICOM"]["SeriesDescription"] = "AXIAL 1.25"
    instances = series["Instances"]
    instances[f"{SERIES}.2500"]["DICOM"]["KVP"] = "100"
    instances[f"{SERIES}.4000"]["DICOM"]["InstanceNumber"] = "4000"  # padding only: no change
    del instances[f"{SERIES}.4999"]
    return new


def timed(fn: Any) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def main() -> int:
    doc = document(5000)
    old_text, new_text = json.dumps(doc), json.dumps(changed(doc))
    old, new = json.loads(old_text), json.loads(new_text)  # separate objects, as two fetches give them
    changes = diff_versions(old, new)
    assert len(changes) == 4, changes  # name, description, KVP, the removed instance
    parses, diffs = [], []
    for _ in range(7):  # interleaved, so a noisy neighbour hits both alike
        gc.collect()
        parses.append(timed(lambda: json.loads(old_text)))
        gc.collect()
        diffs.append(timed(lambda: diff_versions(old, new)))
    p, d = statistics.median(parses), statistics.median(diffs)
    ratio = d / p
    print(f"version diff: {len(old_text) / 1e6:.1f} MB metadata, 5,000 instances, {len(changes)} changes; "
          f"json.loads {p * 1000:.0f} ms, diff {d * 1000:.0f} ms (median of 7): ratio {ratio:.2f} "
          f"(target <= {TARGET:.2f})")
    return 0 if ratio <= TARGET else 1


if __name__ == "__main__":
    sys.exit(main())
