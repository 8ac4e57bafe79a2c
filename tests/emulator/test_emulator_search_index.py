"""SearchImageSets from the store's indexes: every filter, sort and page size gives exactly what a plain
scan over the latest documents gives (ties, updates, deletions, re-imports included); the queries use the
indexes (SQLite's own query plan, no temporary sort of the datastore); an older store is indexed when
opened; bulk seeding."""

from __future__ import annotations

import random
import sqlite3
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from reconciler.emulator.search import parse
from reconciler.emulator.search_sql import COLUMNS, _base
from reconciler.emulator.store import NewVersion, Store
from tests.support.backends import make_local_client
from tests.support.emuhelpers import copy_store

DS = "e" * 32
T0 = 1_700_000_000.0


def document(rng: random.Random, n: int) -> dict[str, Any]:
    study: dict[str, Any] = {"StudyInstanceUID": f"1.2.{rng.randrange(6)}", "StudyID": f"S{rng.randrange(4)} ",
                             "AccessionNumber": f"A{rng.randrange(5)}"}
    if rng.random() < 0.8:  # some have no study date (they sort first, as "")
        study["StudyDate"] = f"2024010{rng.randrange(1, 4)}"
        study["StudyTime"] = f"{rng.randrange(10, 13)}0000"
    series = {f"1.3.{rng.randrange(5)}": {"DICOM": {"Modality": "CT"}, "Instances": {}}}
    return {"Patient": {"DICOM": {"PatientID": f"P{rng.randrange(4)}", "PatientName": f"N^{n}"}},
            "Study": {"DICOM": study, "Series": series}}


@pytest.fixture(scope="module")
def _fleet_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """60 image sets with many equal timestamps, then updates, a re-import and deletions."""
    rng = random.Random(15)
    store = Store(tmp_path_factory.mktemp("fleet") / "store")
    store.ensure_datastore(DS, "index", now=T0)
    ids = [f"{n:032x}" for n in range(60)]
    for n, image_set_id in enumerate(ids):
        store.put_image_set(DS, image_set_id, document(rng, n), is_primary=rng.random() < 0.5,
                            now=T0 + rng.randrange(8))  # 8 distinct times for 60 image sets: many ties
    for image_set_id in rng.sample(ids, 15):
        replacement = document(rng, 100)
        store.commit_update(DS, image_set_id, 1, lambda _doc, d=replacement: NewVersion(d, "UPDATED"),
                            now=T0 + 10 + rng.randrange(3), lock_until=0.0)
    store.put_image_set(DS, ids[0], document(rng, 200), replace=True, now=T0 + 20)
    for image_set_id in rng.sample(ids[1:], 6):
        store.delete_image_set(DS, image_set_id, now=T0 + 30)
    return store.directory


@pytest.fixture
def fleet(tmp_path: Path, _fleet_template: Path) -> Store:
    """The fleet, built once per module; each test gets its own copy (one test rewrites its store)."""
    return Store(copy_store(_fleet_template, tmp_path / "store"))


def ts(seconds: float) -> datetime:
    return datetime.fromtimestamp(seconds, UTC)


def _study_key(doc: dict[str, Any]) -> str:
    dicom = doc["Study"]["DICOM"]
    return dicom["StudyDate"] + dicom["StudyTime"] + "000000" if "StudyDate" in dicom else ""


def reference(store: Store, criteria: dict[str, Any]) -> list[str]:
    """The answer by a plain scan of every live latest document, as the emulator searched before."""
    equal = {"DICOMPatientId": lambda d: [d["Patient"]["DICOM"]["PatientID"]],
             "DICOMStudyId": lambda d: [d["Study"]["DICOM"]["StudyID"].rstrip()],
             "DICOMAccessionNumber": lambda d: [d["Study"]["DICOM"]["AccessionNumber"]],
             "DICOMStudyInstanceUID": lambda d: [d["Study"]["DICOM"]["StudyInstanceUID"]],
             "DICOMSeriesInstanceUID": lambda d: list(d["Study"]["Series"])}
    fields = {"updatedAt": lambda r, d: round(r.updated_at, 3), "createdAt": lambda r, d: round(r.created_at, 3),
              "DICOMStudyDateAndTime": lambda r, d: _study_key(d)}
    rows = store.latest_documents(DS, now=T0 + 100)
    for f in criteria.get("filters", []):
        ((key, value), *rest) = [next(iter(v.items())) for v in f["values"]]
        if key == "isPrimary":
            rows = [(r, d) for r, d in rows if r.is_primary == value]
        elif f["operator"] == "EQUAL":
            rows = [(r, d) for r, d in rows if value in equal[key](d)]
        else:
            low, high = (v.timestamp() if isinstance(v, datetime) else v["DICOMStudyDate"] + "000000000000"
                         for v in (value, rest[0][1]))
            rows = [(r, d) for r, d in rows if low <= fields[key](r, d) <= high]
    sort = criteria.get("sort", {"sortField": "updatedAt", "sortOrder": "DESC"})
    rows.sort(key=lambda rd: rd[0].image_set_id)
    rows.sort(key=lambda rd: fields[sort["sortField"]](*rd), reverse=sort["sortOrder"] == "DESC")
    return [r.image_set_id for r, _ in rows]


def searched(client: Any, criteria: dict[str, Any], page_size: int) -> list[str]:
    pages = client.get_paginator("search_image_sets").paginate(
        datastoreId=DS, searchCriteria=criteria, PaginationConfig={"PageSize": page_size})
    return [s["imageSetId"] for page in pages for s in page["imageSetsMetadataSummaries"]]


CRITERIA = [
    {},
    {"sort": {"sortField": "updatedAt", "sortOrder": "ASC"}},
    {"sort": {"sortField": "createdAt", "sortOrder": "DESC"}},
    {"sort": {"sortField": "DICOMStudyDateAndTime", "sortOrder": "ASC"}},
    {"filters": [{"operator": "EQUAL", "values": [{"DICOMPatientId": "P1"}]}]},
    {"filters": [{"operator": "EQUAL", "values": [{"DICOMStudyId": "S2"}]}],
     "sort": {"sortField": "createdAt", "sortOrder": "ASC"}},
    {"filters": [{"operator": "EQUAL", "values": [{"DICOMSeriesInstanceUID": "1.3.2"}]},
                 {"operator": "EQUAL", "values": [{"DICOMAccessionNumber": "A3"}]}]},
    {"filters": [{"operator": "EQUAL", "values": [{"isPrimary": True}]},
                 {"operator": "EQUAL", "values": [{"DICOMStudyInstanceUID": "1.2.4"}]}]},
    {"filters": [{"operator": "BETWEEN", "values": [{"updatedAt": ts(T0 + 2)}, {"updatedAt": ts(T0 + 11)}]}],
     "sort": {"sortField": "updatedAt", "sortOrder": "ASC"}},
    {"filters": [{"operator": "BETWEEN", "values": [{"createdAt": ts(T0 + 3)}, {"createdAt": ts(T0 + 5)}]},
                 {"operator": "EQUAL", "values": [{"DICOMPatientId": "P2"}]}]},
    {"filters": [{"operator": "BETWEEN", "values": [{"DICOMStudyDateAndTime": {"DICOMStudyDate": "20240102"}},
                                                    {"DICOMStudyDateAndTime": {"DICOMStudyDate": "20240104"}}]}],
     "sort": {"sortField": "DICOMStudyDateAndTime", "sortOrder": "DESC"}},
]


@pytest.mark.parametrize("criteria", CRITERIA, ids=[str(i) for i in range(len(CRITERIA))])
@pytest.mark.parametrize("page_size", [1, 7, 50])
def test_every_page_size_gives_what_a_scan_gives(fleet: Store, criteria: dict[str, Any], page_size: int) -> None:
    client = make_local_client(str(fleet.directory), clock=lambda: T0 + 100)
    expected = reference(fleet, criteria)
    assert searched(client, criteria, page_size) == expected
    assert len(expected) == len(set(expected))


def query_plan(store: Store, criteria: dict[str, Any]) -> str:
    query = parse(criteria)
    sql, params = _base(DS, query, T0 + 100)
    order = "DESC" if query.descending else "ASC"
    sql += f" ORDER BY i.{COLUMNS[query.sort_field]} {order}, i.image_set_id LIMIT 51"
    with sqlite3.connect(store.path) as conn:
        return " | ".join(str(row[-1]) for row in conn.execute(f"EXPLAIN QUERY PLAN {sql}", params))


@pytest.mark.parametrize("criteria", [
    {},
    {"sort": {"sortField": "updatedAt", "sortOrder": "ASC"}},
    {"filters": [{"operator": "BETWEEN", "values": [{"updatedAt": T0}, {"updatedAt": T0 + 9}]}],  # as on the wire
     "sort": {"sortField": "updatedAt", "sortOrder": "ASC"}},
    {"sort": {"sortField": "createdAt", "sortOrder": "DESC"}},
    {"sort": {"sortField": "DICOMStudyDateAndTime", "sortOrder": "ASC"}},
])
def test_a_page_is_read_from_an_index_in_order(fleet: Store, criteria: dict[str, Any]) -> None:
    """No scan of the table and no temporary sort: a page costs an index seek and its own rows."""
    plan = query_plan(fleet, criteria)
    assert "USING INDEX image_sets_" in plan and "TEMP B-TREE" not in plan, plan


def test_an_equality_filter_starts_from_its_matches(fleet: Store) -> None:
    plan = query_plan(fleet, {"filters": [{"operator": "EQUAL", "values": [{"DICOMPatientId": "P1"}]}]})
    assert plan.startswith("SEARCH k USING PRIMARY KEY"), plan


def test_a_store_made_before_the_index_is_indexed_when_opened(fleet: Store) -> None:
    expected = reference(fleet, CRITERIA[4])
    with sqlite3.connect(fleet.path) as conn:  # as an older version left it
        conn.execute("DELETE FROM search_values")
        conn.execute("UPDATE image_sets SET tags = NULL, study_key = ''")
        conn.execute("PRAGMA user_version = 0")
    reopened = Store(fleet.directory)
    client = make_local_client(str(reopened.directory), clock=lambda: T0 + 100)
    assert searched(client, CRITERIA[4], 50) == expected and expected
    summary = client.search_image_sets(datastoreId=DS, searchCriteria=CRITERIA[4])["imageSetsMetadataSummaries"][0]
    assert summary["DICOMTags"]["DICOMPatientId"] == "P1"


def test_bulk_seeding_in_one_transaction(tmp_path: Path) -> None:
    store = Store(tmp_path / "bulk")
    store.ensure_datastore(DS, "bulk", now=T0)
    rng = random.Random(1)
    count = store.put_many(DS, ((f"{n:032x}", document(rng, n), T0 + n, T0 - 40 * 86400) for n in range(500)))
    assert count == 500
    client = make_local_client(str(store.directory), clock=lambda: T0 + 1000)
    found = searched(client, {"filters": [{"operator": "BETWEEN", "values": [
        {"updatedAt": ts(T0 + 100)}, {"updatedAt": ts(T0 + 149)}]}]}, 50)
    assert found == [f"{n:032x}" for n in range(149, 99, -1)]
    props = client.get_image_set(datastoreId=DS, imageSetId=f"{7:032x}")
    assert props["versionId"] == "1" and props["storageTier"] == "ARCHIVE_INSTANT_ACCESS"
