"""The SQLite store: versions, compare-and-swap, atomic failures, and two processes on one store."""

from __future__ import annotations

import multiprocessing
from pathlib import Path
from typing import Any

import pytest

from reconciler.emulator.errors import ConflictError, NotFoundError
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
