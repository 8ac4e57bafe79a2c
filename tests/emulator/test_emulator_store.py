"""The SQLite store: versions, compare-and-swap, atomic failures, and two processes on one store."""

from __future__ import annotations

import json
import multiprocessing
import sqlite3
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from reconciler.emulator import tables
from reconciler.emulator.errors import ConflictError, NotFoundError
from reconciler.emulator.schema import SCHEMA_VERSION
from reconciler.emulator.store import NewVersion, Store
from tests.support.emuhelpers import DS, IS, load_doc

DOC = load_doc("understanding_image_sets.json")


def test_put_image_set_stamps_its_ids(store: Store) -> None:
    store.ensure_datastore(DS)
    assert store.put_image_set(DS, IS, DOC) == 1
    stored = store.get_document(DS, IS)
    assert (stored["DatastoreID"], stored["ImageSetID"], stored["SchemaVersion"]) == (DS, IS, "1.1")
    assert stored["Patient"] == DOC["Patient"] and stored["Study"] == DOC["Study"]


def test_put_twice_is_a_conflict_unless_replacing(store: Store) -> None:
    store.ensure_datastore(DS)
    store.put_image_set(DS, IS, DOC)
    with pytest.raises(ConflictError):
        store.put_image_set(DS, IS, DOC)
    assert store.put_image_set(DS, IS, DOC, replace=True) == 2
    assert store.get_version(DS, IS, now=0).workflow_status == "IMPORTED"


def test_ensure_datastore_is_idempotent(store: Store) -> None:
    store.ensure_datastore(DS, "first")
    store.ensure_datastore(DS, "second")
    assert [d.name for d in store.list_datastores()] == ["first"]


@pytest.mark.parametrize("call", [
    lambda s: s.put_image_set(DS, IS, DOC),
    lambda s: s.get_document(DS, IS),
    lambda s: s.get_datastore(DS),
])
def test_missing_datastore(store: Store, call: Any) -> None:
    with pytest.raises(NotFoundError):
        call(store)


def test_a_failing_build_writes_nothing(store: Store) -> None:
    store.ensure_datastore(DS)
    store.put_image_set(DS, IS, DOC)

    def build(_: dict[str, Any]) -> NewVersion:
        raise ValueError("refused")

    with pytest.raises(ValueError):
        store.commit_update(DS, IS, 1, build, now=0, lock_until=0)
    assert [v.version for v in store.list_versions(DS, IS, now=0)] == [1]


# -- two processes on one store --------------------------------------------------------------------


def _race(store_dir: str, barrier: Any, results: Any, rounds: int) -> None:
    """Each round: wait for the other process, then update at the version both observed."""
    from tests.support.backends import make_local_client
    from tests.support.emuhelpers import NO_RETRIES, update

    client = make_local_client(store_dir, client_config=NO_RETRIES)
    for version in range(1, rounds + 1):
        barrier.wait(timeout=30)
        observed = client.get_image_set(datastoreId=DS, imageSetId=IS)["versionId"]
        barrier.wait(timeout=30)
        try:
            update(client, {"Patient": {"DICOM": {"PatientName": f"P^{version}"}}}, version=observed)
            results.put((version, "ok"))
        except client.exceptions.ConflictException:
            results.put((version, "conflict"))


def test_two_processes_at_the_same_version_exactly_one_wins(seeded: Store, store_dir: Path) -> None:
    rounds = 5
    ctx = multiprocessing.get_context("fork")
    barrier, results = ctx.Barrier(2), ctx.Queue()
    procs = [ctx.Process(target=_race, args=(str(store_dir), barrier, results, rounds)) for _ in range(2)]
    for p in procs:
        p.start()
    outcomes = [results.get(timeout=60) for _ in range(2 * rounds)]
    for p in procs:
        p.join(timeout=30)
    assert all(p.exitcode == 0 for p in procs)
    for version in range(1, rounds + 1):
        assert sorted(o for v, o in outcomes if v == version) == ["conflict", "ok"]
    versions = [v.version for v in seeded.list_versions(DS, IS, now=0)]
    assert versions == list(range(rounds + 1, 0, -1))


# -- opening a store, and its connections --------------------------------------------------------------

FIRST_RELEASE = """
CREATE TABLE datastores (datastore_id TEXT PRIMARY KEY, name TEXT NOT NULL, status TEXT NOT NULL,
    created_at REAL NOT NULL, updated_at REAL NOT NULL);
CREATE TABLE image_sets (datastore_id TEXT NOT NULL REFERENCES datastores(datastore_id),
    image_set_id TEXT NOT NULL, latest_version INTEGER NOT NULL, is_primary INTEGER NOT NULL,
    created_at REAL NOT NULL, updated_at REAL NOT NULL, lock_until REAL NOT NULL DEFAULT 0, deleted_at REAL,
    PRIMARY KEY (datastore_id, image_set_id));
CREATE TABLE versions (datastore_id TEXT NOT NULL, image_set_id TEXT NOT NULL, version INTEGER NOT NULL,
    document TEXT NOT NULL, status TEXT NOT NULL, message TEXT, forced INTEGER NOT NULL DEFAULT 0,
    created_at REAL NOT NULL, updated_at REAL NOT NULL, PRIMARY KEY (datastore_id, image_set_id, version));
"""


def _columns(path: Path) -> list[tuple[Any, ...]]:
    with sqlite3.connect(path) as conn:
        return [tuple(row) for row in conn.execute("PRAGMA table_info(image_sets)")]


def test_a_store_of_the_first_release_is_migrated_when_opened_and_then_opened_as_is(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    old = tmp_path / "old"
    old.mkdir()
    with sqlite3.connect(old / "emulator.sqlite3") as conn:
        conn.executescript(FIRST_RELEASE)
        conn.execute("INSERT INTO datastores VALUES (?, 'old', 'ACTIVE', 1, 1)", (DS,))
        conn.execute("INSERT INTO image_sets VALUES (?, ?, 1, 1, 1, 1, 0, NULL)", (DS, IS))
        conn.execute("INSERT INTO versions VALUES (?, ?, 1, ?, 'CREATED', NULL, 0, 1, 1)",
                     (DS, IS, json.dumps({**DOC, "DatastoreID": DS, "ImageSetID": IS})))
    migrated = Store(old)
    assert _columns(migrated.path) == _columns(Store(tmp_path / "new").path)  # the columns a new store has
    assert migrated.get_version(DS, IS, now=2).workflow_status == "CREATED"
    assert migrated.get_document(DS, IS)["Patient"] == DOC["Patient"]
    with sqlite3.connect(migrated.path) as conn:
        assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
        assert conn.execute("SELECT count(*) FROM search_values WHERE image_set_id = ?", (IS,)).fetchone()[0] > 0

    def no_schema_work(_conn: Any) -> None:
        raise AssertionError("a store at the current schema version is opened as it is")

    monkeypatch.setattr(tables, "create_schema", no_schema_work)
    assert Store(old).get_version(DS, IS, now=2).version == 1


def test_threads_and_a_forked_child_each_use_a_connection_of_their_own(store: Store) -> None:
    store.ensure_datastore(DS)
    store.put_image_set(DS, IS, DOC)  # this thread's connection is open
    errors: list[BaseException] = []

    def put(n: int) -> None:
        try:
            for k in range(5):
                store.put_image_set(DS, f"{n:02d}{k:030d}", DOC)
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=put, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    child = multiprocessing.get_context("fork").Process(target=store.put_image_set, args=(DS, "f" * 32, DOC))
    child.start()
    child.join(timeout=60)
    assert child.exitcode == 0
    assert store.get_document(DS, "f" * 32)["ImageSetID"] == "f" * 32  # the parent's connection still works
    assert len(store.latest_documents(DS, now=time.time())) == 1 + 4 * 5 + 1
