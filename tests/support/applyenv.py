"""Shared set-up of the apply/history/revert end-to-end tests: a seeded emulator store, real clients.

Everything runs against the real emulator (in process, or its HTTP transport on 127.0.0.1) with the
real boto3 client; nothing reaches the network beyond the loopback address.
"""

from __future__ import annotations

import contextlib
import dataclasses
import io
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from reconciler.client.healthimaging import HealthImaging
from reconciler.client.identity import endpoint_identity, local_identity
from reconciler.emulator.knobs import EmulatorConfig
from reconciler.emulator.store import Store
from reconciler.persist import Storage
from reconciler.plan.build import build_plan
from reconciler.plan.model import Plan
from reconciler.plan.planfile import load_plan, save_plan
from reconciler.ratelimit import RateLimiter, RetryPolicy
from reconciler.spec.model import SpecDocument, Target
from tests.support.backends import make_local_client, start_server

FAST_RATES = {"UpdateImageSetMetadata": 200.0, "GetImageSet": 500.0, "GetImageSetMetadata": 500.0,
              "ListImageSetVersions": 500.0}
CLI_RATES = [f"--rate={op}={tps:g}" for op, tps in FAST_RATES.items()]


def series(n: int) -> dict[str, Any]:
    return {f"1.2.840.{n}": {"DICOM": {"Modality": "CT", "SeriesNumber": 1},
                             "Instances": {f"1.2.840.{n}.1": {"DICOM": {"InstanceNumber": 1}}}}}


def document(n: int) -> dict[str, Any]:
    return {
        "SchemaVersion": "1.1",
        "Patient": {"DICOM": {"PatientName": f"PATIENT^{n}", "PatientID": f"P{n}", "PatientSex": "F"}},
        "Study": {"DICOM": {"StudyDescription": "CHEST", "StudyInstanceUID": f"1.2.840.{n}.0",
                            "AccessionNumber": f"A{n}"},
                  "Series": series(n)},
    }


def seed(store_dir: Path, count: int) -> tuple[str, list[str]]:
    """A datastore with COUNT image sets at version 1; returns (datastore ID, image set IDs)."""
    store = Store(store_dir)
    ds = store.create_datastore("apply-tests")
    ids = [f"{n:032x}" for n in range(1, count + 1)]
    for n, image_set_id in enumerate(ids, start=1):
        store.put_image_set(ds, image_set_id, document(n), is_primary=False)  # Patient-level changes
    return ds, ids


def client(store_dir: Path, config: EmulatorConfig | None = None,
           rates: Mapping[str, float] | None = None) -> HealthImaging:
    """The reconciler's real client on the in-process emulator, paced for tests."""
    raw = make_local_client(str(store_dir), config or EmulatorConfig())
    return HealthImaging(raw, limiter=RateLimiter(dict(rates or FAST_RATES)),
                         retry=RetryPolicy(max_attempts=10, base=0.02, cap=0.2, max_total=20.0))


def spec(ds: str, image_set_id: str, desired: Mapping[str, Any], force: bool = False) -> SpecDocument:
    return SpecDocument(file="specs/test.yaml", index=0, target=Target(ds, image_set_id), force=force,
                        desired=desired)


def rename_specs(ds: str, ids: list[str], suffix: str = "NEW") -> list[SpecDocument]:
    """One spec per image set: a new PatientName and no StudyDescription."""
    return [spec(ds, i, {"Patient": {"DICOM": {"PatientName": f"{suffix}^{n}"}},
                         "Study": {"DICOM": {"StudyDescription": None}}})
            for n, i in enumerate(ids, start=1)]


SPEC_YAML = """apiVersion: reconciler/v1
kind: ImageSetMetadata
target:
  datastoreId: {ds}
  imageSetId: {image_set_id}
desired:
  Patient:
    DICOM:
      PatientName: NEW^{n}
  Study:
    DICOM:
      StudyDescription: null
"""


def write_specs(folder: Path, ds: str, ids: list[str]) -> Path:
    """The YAML form of ``rename_specs``: one file per image set."""
    folder.mkdir(parents=True, exist_ok=True)
    for n, image_set_id in enumerate(ids, start=1):
        (folder / f"s{n:03d}.yaml").write_text(SPEC_YAML.format(ds=ds, image_set_id=image_set_id, n=n))
    return folder


def make_plan(store_dir: Path, docs: list[SpecDocument]) -> Plan:
    return build_plan(docs, client(store_dir))


def save_for(plan: Plan, planfile: Path, backend: Path | str) -> None:
    """Save PLAN as `plan --out` does against BACKEND: a store directory (--local) or a URL (--endpoint-url)."""
    where = str(backend)
    identity = endpoint_identity(where) if where.startswith("http") else local_identity(where)
    save_plan(dataclasses.replace(plan, backend=identity), str(planfile), Storage())


def record_backend(planfile: Path, backend: Path | str) -> None:
    """Re-save the plan in PLANFILE as made against BACKEND (e.g. an HTTP emulator started after saving)."""
    save_for(load_plan(str(planfile), Storage())[0], planfile, backend)


@contextlib.contextmanager
def http_emulator(store_dir: Path, config: EmulatorConfig) -> Iterator[tuple[str, io.StringIO]]:
    """The emulator's HTTP transport on 127.0.0.1 in a thread; yields (URL, request log)."""
    log = io.StringIO()
    server, thread, url = start_server(store_dir, config, log=log)
    try:
        yield url, log
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
