"""Plan benchmarks (issue 4, acceptance 5), all against the in-process emulator with the real boto3 client.

1. Large image set: planning one 5,000-instance image set (~5.5 MB of metadata) against a bare boto3
   GetImageSetMetadata + gunzip + json.loads of the same document, measured in the same run.
   Target: plan / bare <= 1.2.
2. Fleet: planning 1,000 image sets with the read quotas enforced by the emulator (ThrottlingException
   above the rate) and paced by the client. The documented quotas (GetImageSet 25/s, GetImageSetMetadata
   50/s) are used as they are (about 40 s); BENCH_PLAN_SCALE=2 doubles them for a quicker run, with the
   same ratio. Target: achieved image sets/s >= 90 % of the quota-bound rate, no ThrottlingException
   reaching the user.
3. Memory: tracemalloc peak while planning 50 vs 200 image sets of 200 instances each, minus what the
   finished plan itself holds (its changes and payloads, which grow with the spec by design).
   Target: working memory(200) / working memory(50) <= 1.5 (no live document is kept).
"""

from __future__ import annotations

import gc
import gzip
import json
import os
import statistics
import sys
import tempfile
import time
import tracemalloc
from collections.abc import Callable
from typing import Any

from reconciler.client.healthimaging import HealthImaging
from reconciler.emulator.knobs import EmulatorConfig
from reconciler.emulator.store import Store
from reconciler.plan.build import build_plan
from reconciler.ratelimit import RateLimiter
from reconciler.spec.model import SpecDocument, Target
from tests.support.backends import make_local_client

DS = "b" * 32
SCALE = float(os.environ.get("BENCH_PLAN_SCALE", "1"))
FLEET = int(os.environ.get("BENCH_PLAN_FLEET", "1000"))
UNLIMITED = {op: 100_000.0 for op in ("GetImageSet", "GetImageSetMetadata", "SearchImageSets")}


def instance(n: int, s: int) -> dict[str, Any]:
    dicom = {
        "SOPClassUID": "1.2.840.10008.5.1.4.1.1.2", "SOPInstanceUID": f"1.2.826.0.1.3680043.8.498.{s}.{n}",
        "InstanceNumber": f"{n} ", "ImageType": ["ORIGINAL", "PRIMARY", "AXIAL"], "KVP": "120 ",
        "SliceThickness": "1.25", "SliceLocation": f"{-n * 1.25:.2f}", "ImagePositionPatient": ["-250", "-250", f"{n}"],
        "ImageOrientationPatient": ["1", "0", "0", "0", "1", "0"], "PixelSpacing": ["0.488281", "0.488281"],
        "Rows": 512, "Columns": 512, "BitsAllocated": 16, "BitsStored": 12, "HighBit": 11, "PixelRepresentation": 0,
        "RescaleIntercept": "-1024 ", "RescaleSlope": "1 ", "WindowCenter": "40", "WindowWidth": "400",
        "AcquisitionNumber": "1 ", "ContentDate": "20240101", "ContentTime": "101010.000000",
        "ConvolutionKernel": "STANDARD", "ExposureTime": "1000", "XRayTubeCurrent": "250", "Exposure": "40",
        "TransferSyntaxUID": "1.2.840.10008.1.2.1", "ImageComments": "benchmark instance " + "x" * 80,
    }
    return {"DICOM": dicom, "DICOMVRs": {},
            "ImageFrames": [{"ID": f"{n:032x}", "MinPixelValue": 0, "MaxPixelValue": 4095,
                             "FrameSizeInBytes": 524288,
                             "PixelDataChecksumFromBaseToFullResolution": [{"Width": 512, "Height": 512,
                                                                            "Checksum": 123456789 + n}]}]}


def document(instances: int, s: int = 1) -> dict[str, Any]:
    series_uid = f"1.2.826.0.1.3680043.8.498.{s}"
    return {
        "Patient": {"DICOM": {"PatientName": f"BENCH^{s}", "PatientID": f"P{s}", "PatientSex": "O"}},
        "Study": {"DICOM": {"StudyInstanceUID": f"1.2.826.0.1.{s}", "StudyDescription": "CT CHEST ",
                            "AccessionNumber": f"A{s}"},
                  "Series": {series_uid: {"DICOM": {"Modality": "CT", "SeriesNumber": "1 "},
                                          "Instances": {f"{series_uid}.{n}": instance(n, s)
                                                        for n in range(instances)}}}},
    }


def spec(image_set_id: str, s: int = 1, instances: int = 10) -> SpecDocument:
    series_uid = f"1.2.826.0.1.3680043.8.498.{s}"
    inst = {f"{series_uid}.{n}": {"DICOM": {"ImageComments": "reviewed", "KVP": "120"}} for n in range(instances)}
    desired = {"Patient": {"DICOM": {"PatientName": "BENCH^RENAMED"}},
               "Study": {"DICOM": {"StudyDescription": "CT CHEST"},
                         "Series": {series_uid: {"DICOM": {"SeriesNumber": "1"}, "Instances": inst}}}}
    return SpecDocument("bench.yaml", 0, Target(DS, image_set_id), False, desired)


def client(store_dir: str, rates: dict[str, float], config: EmulatorConfig | None = None) -> HealthImaging:
    return HealthImaging(make_local_client(store_dir, config), limiter=RateLimiter(rates))


def timed(fn: Callable[[], Any]) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def bench_large(tmp: str) -> bool:
    store = Store(tmp)
    store.ensure_datastore(DS, "bench")
    doc = document(5000)
    store.put_image_set(DS, "1" * 32, doc, is_primary=False)  # the spec renames the patient
    size = len(json.dumps(doc))
    raw = make_local_client(tmp)
    api = client(tmp, UNLIMITED)

    def bare() -> None:
        resp = raw.get_image_set_metadata(datastoreId=DS, imageSetId="1" * 32)
        json.loads(gzip.decompress(resp["imageSetMetadataBlob"].read()))

    def plan() -> None:
        p = build_plan([spec("1" * 32, instances=50)], api, parallelism=1)
        assert p.image_sets[0].action == "update", p.image_sets[0].error

    bare()
    plan()  # warm up both paths
    bares, plans = [], []
    for _ in range(5):  # interleaved, so a noisy neighbour hits both alike
        gc.collect()
        bares.append(timed(bare))
        gc.collect()
        plans.append(timed(plan))
    b, p = statistics.median(bares), statistics.median(plans)
    ratio = p / b
    print(f"large image set: {size / 1e6:.1f} MB metadata, 5,000 instances; bare fetch+gunzip+parse "
          f"{b * 1000:.0f} ms, plan {p * 1000:.0f} ms (median of 5): ratio {ratio:.2f} (target <= 1.20)")
    return ratio <= 1.2


def bench_fleet(tmp: str) -> bool:
    store = Store(tmp)
    store.ensure_datastore(DS, "fleet")
    ids = [f"{n:032x}" for n in range(1, FLEET + 1)]
    for n, i in enumerate(ids):
        store.put_image_set(DS, i, document(2, n), is_primary=False)
    rates = {"GetImageSet": 25.0 * SCALE, "GetImageSetMetadata": 50.0 * SCALE}
    api = client(tmp, rates, EmulatorConfig(rates=rates))
    docs = [spec(i, n, instances=1) for n, i in enumerate(ids)]
    start = time.perf_counter()
    plan = build_plan(docs, api, parallelism=8)
    elapsed = time.perf_counter() - start
    errors = [p.error for p in plan.image_sets if p.action == "error"]
    # quota-bound time: after the one-second burst each operation's bucket allows RATE per second
    bound = max((FLEET - rate) / rate for rate in rates.values())
    ratio = bound / elapsed
    retries = api.stats.retries()
    print(f"fleet: {FLEET} image sets at GetImageSet {rates['GetImageSet']:g}/s, GetImageSetMetadata "
          f"{rates['GetImageSetMetadata']:g}/s (documented quotas x{SCALE:g}): {elapsed:.1f} s, quota-bound "
          f"{bound:.1f} s: {ratio:.0%} of the quota-bound rate (target >= 90%); "
          f"throttled retries {sum(retries.values())}, errors reaching the user {len(errors)}")
    return ratio >= 0.9 and not errors


def _peak(api: HealthImaging, ids: list[str]) -> tuple[int, int]:
    """(peak, retained) bytes while planning IDS: retained is the plan itself (its changes and payloads)."""
    docs = [spec(i, n, instances=5) for n, i in enumerate(ids)]
    gc.collect()
    tracemalloc.start()
    plan = build_plan(docs, api, parallelism=4)
    current, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    del plan
    return peak, current


def bench_memory(tmp: str) -> bool:
    store = Store(tmp)
    store.ensure_datastore(DS, "memory")
    ids = [f"{n:032x}" for n in range(1, 201)]
    for n, i in enumerate(ids):
        store.put_image_set(DS, i, document(200, n), is_primary=False)
    api = client(tmp, UNLIMITED)
    (small, kept_small), (large, kept_large) = _peak(api, ids[:50]), _peak(api, ids)
    ratio = (large - kept_large) / (small - kept_small)
    print(f"memory: tracemalloc peak planning 50 image sets {small / 1e6:.1f} MB, 200 image sets "
          f"{large / 1e6:.1f} MB, of which the plan itself (changes, payloads) {kept_small / 1e6:.1f} / "
          f"{kept_large / 1e6:.1f} MB; working memory ratio {ratio:.2f} "
          f"(target <= 1.50: flat in the number of image sets)")
    return ratio <= 1.5


def main() -> int:
    ok = True
    for bench in (bench_large, bench_fleet, bench_memory):
        with tempfile.TemporaryDirectory(prefix="bench-plan-") as tmp:
            ok = bench(tmp) and ok
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
