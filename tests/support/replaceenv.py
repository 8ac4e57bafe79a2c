"""A primary image set to replace, the CLI against it over both transports, and checks of the store: how
many primaries hold the study's instances, and that no instance is held only by image sets being deleted."""

from __future__ import annotations

import contextlib
import io
import json
import sqlite3
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from reconciler.cli import main
from reconciler.commands._common import Streams
from reconciler.emulator.knobs import EmulatorConfig
from reconciler.emulator.records import VersionRow
from reconciler.emulator.store import Store
from reconciler.emulator.tables import DB_NAME
from tests.support.applyenv import CLI_RATES
from tests.support.backends import cli_backend, isolate_aws

DS = "6" * 32
X, Y = "e" * 32, "f" * 32  # X: the primary to replace; Y: a primary of another study, never touched
STUDY, OTHER = "1.2.840.77.0", "1.2.840.76.0"
OLD, NEW = "QQOLD^ZZNAME", "QQNEW^ZZNAME"
INSTANCES = frozenset({("1.2.840.77.1", "1.2.840.77.1.1"), ("1.2.840.77.1", "1.2.840.77.1.2"),
                       ("1.2.840.77.2", "1.2.840.77.2.1")})
# CopyImageSet and DeleteImageSet are 0.25/s by default (the documented quota): fast for tests
RATES = [*CLI_RATES, "--rate=CopyImageSet=100", "--rate=DeleteImageSet=100", "--rate=SearchImageSets=100"]
LOCK = 0.05  # seconds each write keeps an image set LOCKED: short, but the waits are real


def document(study: str = STUDY, name: str = OLD, first: int = 77) -> dict[str, Any]:
    def series(n: int, count: int) -> dict[str, Any]:
        return {"DICOM": {"Modality": "CT", "SeriesNumber": n, "SeriesDescription": f"S{n}"},
                "Instances": {f"1.2.840.{first}.{n}.{i}": {"DICOM": {"InstanceNumber": i}}
                              for i in range(1, count + 1)}}

    return {"SchemaVersion": "1.1",
            "Patient": {"DICOM": {"PatientName": name, "PatientID": "P77"}},
            "Study": {"DICOM": {"StudyInstanceUID": study, "StudyDescription": "CHEST"},
                      "Series": {f"1.2.840.{first}.1": series(1, 2), f"1.2.840.{first}.2": series(2, 1)}}}


def seed(store_dir: Path) -> None:
    store = Store(store_dir)
    store.ensure_datastore(DS, "replace")
    store.put_image_set(DS, X, document())
    store.put_image_set(DS, Y, document(OTHER, first=76))


SELECT = (f"apiVersion: reconciler/v1\nkind: ImageSetMetadata\ntarget:\n  datastoreId: {DS}\n  select:\n"
          f"    DICOMStudyInstanceUID: {STUDY}\n")
PATIENT = f"desired:\n  Patient:\n    DICOM:\n      PatientName: {NEW}\n"


def spec_text(allow: bool = True, target: str = SELECT) -> str:
    return target + ("replace: allow\n" if allow else "") + PATIENT


def by_id(image_set_id: str) -> str:
    return (f"apiVersion: reconciler/v1\nkind: ImageSetMetadata\ntarget:\n  datastoreId: {DS}\n"
            f"  imageSetId: {image_set_id}\n")


@dataclass
class Env:
    root: Path
    store: Path
    backend: list[str]

    def cli(self, *argv: str) -> tuple[int, str, str]:
        out, err = io.StringIO(), io.StringIO()
        code = main([*argv, *self.backend, *RATES], Streams(out=out, err=err, inp=io.StringIO("")))
        return code, out.getvalue(), err.getvalue()

    def spec(self, text: str, name: str = "x.yaml") -> Path:
        path = self.root / "specs" / name
        path.write_text(text)
        return path

    def rows(self) -> list[tuple[VersionRow, dict[str, Any]]]:
        return Store(self.store).latest_documents(DS, now=time.time())

    def ever(self) -> set[str]:
        """Every image set the datastore ever held, deleted ones included."""
        with sqlite3.connect(self.store / DB_NAME) as conn:
            return {r[0] for r in conn.execute("SELECT image_set_id FROM image_sets WHERE datastore_id = ?", (DS,))}


def instances(doc: dict[str, Any]) -> frozenset[tuple[str, str]]:
    return frozenset((s, i) for s, node in doc["Study"]["Series"].items() for i in node.get("Instances", {}))


def in_study(env: Env) -> list[tuple[VersionRow, dict[str, Any]]]:
    return [(r, d) for r, d in env.rows() if d.get("Study", {}).get("DICOM", {}).get("StudyInstanceUID") == STUDY]


def deleting(row: VersionRow) -> bool:
    return row.workflow_status in ("DELETING", "DELETED") or row.deleted_at is not None


def assert_nothing_lost(env: Env) -> None:
    """Every instance of the original is held by an image set that is not being deleted."""
    held = frozenset().union(*(instances(d) for r, d in in_study(env) if not deleting(r)))
    assert held >= INSTANCES, sorted(INSTANCES - held)


def wait_quiet(env: Env, timeout: float = 300.0) -> None:
    """Until no image set of the store is LOCKED (the killed run's last write may still run). TIMEOUT is
    a hang guard, far above any lock the tests set: reaching it fails the test instead of going on."""
    deadline = time.monotonic() + timeout
    while any(r.state == "LOCKED" for r, _ in env.rows()):
        assert time.monotonic() < deadline, "an image set is still LOCKED"
        time.sleep(0.02)


def assert_replaced(env: Env) -> str:
    """The study holds exactly one image set, primary, with every instance and the new name; the original
    is gone. Returns its ID."""
    wait_quiet(env)
    live = in_study(env)
    assert [(r.is_primary, instances(d)) for r, d in live] == [(True, INSTANCES)], \
        [(r.image_set_id, r.is_primary, r.workflow_status) for r, _ in live]
    (row, doc), = live
    assert row.image_set_id != X and doc["Patient"]["DICOM"]["PatientName"] == NEW
    assert doc["Study"]["Series"] == document()["Study"]["Series"]  # series and instances as they were
    assert {r.image_set_id for r, _ in env.rows()} == {row.image_set_id, Y}
    return row.image_set_id


def report(out: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(out)
    return data


@contextlib.contextmanager
def seeded_env(kind: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, seed_store: Callable[[Path], object],
               config: EmulatorConfig) -> Iterator[Env]:
    """TMP_PATH as the working folder (with specs/), a store SEED_STORE fills, and the CLI's arguments for
    KIND: ``local`` (in process) or ``http`` (an ``emulator serve`` HTTP server with CONFIG)."""
    isolate_aws(tmp_path, monkeypatch, "RECONCILER_BLOB_LIMIT", "RECONCILER_CRASH_AFTER")
    monkeypatch.chdir(tmp_path)
    (tmp_path / "specs").mkdir()
    store = tmp_path / "store"
    seed_store(store)
    with cli_backend(kind, store, config) as args:
        yield Env(tmp_path, store, args)


@pytest.fixture(params=["local", "http"])
def env(request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Env]:
    """The seeded store, the CLI in process (``--local``) or against ``emulator serve``'s HTTP server."""
    with seeded_env(request.param, tmp_path, monkeypatch, seed, EmulatorConfig(lock_seconds=LOCK)) as seeded:
        yield seeded
