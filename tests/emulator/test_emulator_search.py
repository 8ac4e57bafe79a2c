"""SearchImageSets: equality keys, BETWEEN ranges, sort, pagination, summaries and validation."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from botocore.exceptions import ClientError

from reconciler.emulator.store import Store
from tests.support.emuhelpers import DS, SERIES7, error_code, load_doc

T0 = 1_700_000_000.0
A, B, C = "a" * 32, "b" * 32, "c" * 32
C_STUDY = "1.3.6.1.4.1.5962.99.1.5128099.2103784727.1533308485539.4.0"


@pytest.fixture
def searchable(transport: Any, store_dir: Any, store: Store, clock: Any) -> Any:
    """Three image sets: A (seed doc, t0), B (developer-guide doc, t0+10), C (App. B doc, t0+20)."""
    store.ensure_datastore(DS, now=T0)
    for offset, (image_set_id, name) in enumerate(
        [(A, "seed_examples.json"), (B, "understanding_image_sets.json"), (C, "grand_challenge.json")]
    ):
        store.put_image_set(DS, image_set_id, load_doc(name), now=T0 + 10 * offset)
    return transport(store_dir, None, clock)


def _ids(client: Any, **criteria: Any) -> list[str]:
    answer = client.search_image_sets(datastoreId=DS, searchCriteria=criteria)
    return [s["imageSetId"] for s in answer["imageSetsMetadataSummaries"]]


def _eq(key: str, value: Any) -> list[dict[str, Any]]:
    return [{"operator": "EQUAL", "values": [{key: value}]}]


def _ts(seconds: float) -> datetime:
    return datetime.fromtimestamp(seconds, UTC)


@pytest.mark.parametrize(("key", "value", "expected"), [
    ("DICOMPatientId", "2178309", {A, B}),
    ("DICOMPatientId", "NOID", {C}),
    ("DICOMPatientId", "nobody", set()),
    ("DICOMAccessionNumber", "ACC0001", {A}),
    ("DICOMStudyId", "1", {A}),
    ("DICOMStudyInstanceUID", C_STUDY, {C}),
    ("DICOMSeriesInstanceUID", SERIES7, {A}),
    ("DICOMSeriesInstanceUID", "1.2.840.113619.2.30.1.1762295590.1623.978668949.887", {B}),
])
def test_equality_filters(searchable: Any, key: str, value: str, expected: set[str]) -> None:
    assert set(_ids(searchable, filters=_eq(key, value))) == expected


@pytest.mark.parametrize(("values", "expected"), [
    ([{"createdAt": _ts(T0 + 5)}, {"createdAt": _ts(T0 + 25)}], {B, C}),
    ([{"updatedAt": _ts(T0)}, {"updatedAt": _ts(T0 + 10)}], {A, B}),
    ([{"DICOMStudyDateAndTime": {"DICOMStudyDate": "19990101"}},
      {"DICOMStudyDateAndTime": {"DICOMStudyDate": "20010101", "DICOMStudyTime": "000000"}}], {C}),
    ([{"DICOMStudyDateAndTime": {"DICOMStudyDate": "20230328", "DICOMStudyTime": "08"}},
      {"DICOMStudyDateAndTime": {"DICOMStudyDate": "20230328", "DICOMStudyTime": "083501.5"}}], {A}),
])
def test_between_filters(searchable: Any, values: list[dict[str, Any]], expected: set[str]) -> None:
    assert set(_ids(searchable, filters=[{"operator": "BETWEEN", "values": values}])) == expected


def test_two_filters_are_anded(searchable: Any) -> None:
    filters = [*_eq("DICOMPatientId", "2178309"),
               {"operator": "BETWEEN", "values": [{"createdAt": _ts(T0 + 5)}, {"createdAt": _ts(T0 + 50)}]}]
    assert _ids(searchable, filters=filters) == [B]


@pytest.mark.parametrize(("sort", "expected"), [
    (None, [C, B, A]),  # default: updatedAt DESC
    ({"sortField": "createdAt", "sortOrder": "ASC"}, [A, B, C]),
    ({"sortField": "DICOMStudyDateAndTime", "sortOrder": "DESC"}, [A, C, B]),  # B has no StudyDate
])
def test_sort(searchable: Any, sort: dict[str, str] | None, expected: list[str]) -> None:
    criteria: dict[str, Any] = {} if sort is None else {"sort": sort}
    assert _ids(searchable, **criteria) == expected


def test_pagination_and_token_binding(searchable: Any) -> None:
    paginator = searchable.get_paginator("search_image_sets")
    pages = list(paginator.paginate(datastoreId=DS, searchCriteria={}, PaginationConfig={"PageSize": 1}))
    assert [s["imageSetId"] for p in pages for s in p["imageSetsMetadataSummaries"]] == [C, B, A]
    first = searchable.search_image_sets(datastoreId=DS, maxResults=1, searchCriteria={})
    with pytest.raises(ClientError) as err:
        searchable.search_image_sets(datastoreId=DS, maxResults=1, nextToken=first["nextToken"],
                                     searchCriteria={"filters": _eq("DICOMPatientId", "NOID")})
    assert error_code(err.value) == "ValidationException"


def test_summary_tags(searchable: Any) -> None:
    answer = searchable.search_image_sets(datastoreId=DS, searchCriteria={"filters": _eq("DICOMStudyId", "1")})
    (summary,) = answer["imageSetsMetadataSummaries"]
    assert summary["version"] == 1 and summary["isPrimary"] is True
    tags = summary["DICOMTags"]
    assert (tags["DICOMPatientId"], tags["DICOMAccessionNumber"], tags["DICOMSeriesModality"]) == (
        "2178309", "ACC0001", "CT")
    assert (tags["DICOMNumberOfStudyRelatedSeries"], tags["DICOMNumberOfStudyRelatedInstances"]) == (2, 2)
    assert tags["DICOMSeriesNumber"] == 1


def test_search_sees_updates_and_not_deleted_sets(searchable: Any) -> None:
    searchable.delete_image_set(datastoreId=DS, imageSetId=B)
    assert set(_ids(searchable, filters=_eq("DICOMPatientId", "2178309"))) == {A}


@pytest.mark.parametrize("criteria", [
    {"filters": [{"operator": "EQUAL", "values": [{"createdAt": _ts(T0)}]}]},
    {"filters": [{"operator": "BETWEEN", "values": [{"createdAt": _ts(T0)}]}]},
    {"filters": [{"operator": "BETWEEN", "values": [{"createdAt": _ts(T0)}, {"updatedAt": _ts(T0)}]}]},
    {"filters": [{"operator": "BETWEEN", "values": [{"DICOMPatientId": "a"}, {"DICOMPatientId": "b"}]}]},
    {"filters": _eq("DICOMStudyInstanceUID", "not-a-uid")},
    {"filters": _eq("DICOMPatientId", "x") * 3},
])
def test_invalid_criteria(searchable: Any, criteria: dict[str, Any]) -> None:
    with pytest.raises(ClientError) as err:
        searchable.search_image_sets(datastoreId=DS, searchCriteria=criteria)
    assert error_code(err.value) == "ValidationException"


def test_unknown_datastore(searchable: Any) -> None:
    with pytest.raises(ClientError) as err:
        searchable.search_image_sets(datastoreId="f" * 32, searchCriteria={})
    assert error_code(err.value) == "ResourceNotFoundException"
