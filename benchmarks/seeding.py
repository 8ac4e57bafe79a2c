"""Seeding shared by the apply benchmarks: a fresh emulator store with N small image sets."""

from __future__ import annotations

from pathlib import Path

from reconciler.emulator.store import Store


def seed_small_image_sets(root: Path, name: str, count: int, tag: str) -> tuple[str, list[str]]:
    """Create datastore NAME in the store at ROOT holding COUNT image sets (IDs 1..COUNT in hex), each with
    a PatientName ``TAG^n`` and StudyDescription ``BEFORE``. Returns (datastore ID, image set IDs)."""
    store = Store(root)
    ds = store.create_datastore(name)
    ids = [f"{n:032x}" for n in range(1, count + 1)]
    for n, image_set_id in enumerate(ids):
        store.put_image_set(ds, image_set_id, {
            "Patient": {"DICOM": {"PatientName": f"{tag}^{n}", "PatientID": f"P{n}"}},
            "Study": {"DICOM": {"StudyDescription": "BEFORE", "StudyInstanceUID": f"1.2.3.{n}"}, "Series": {}},
        }, is_primary=False)  # the benchmarks change PatientName, which a primary image set refuses
    return ds, ids
