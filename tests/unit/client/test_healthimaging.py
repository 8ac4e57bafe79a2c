"""HealthImaging over a real boto3 client with a scripted transport: reads, pages, updates, guards."""

from __future__ import annotations

import base64
import json
from urllib.parse import parse_qs, urlparse

import pytest
from botocore.exceptions import ConnectionClosedError, ReadTimeoutError

from reconciler.errors import ServiceError, StaleVersion, UsageError
from tests.support.awsfakes import DS, IS, Answer, error, image_set, make_api, metadata_answer

DOC = {"SchemaVersion": "1.1", "Patient": {"DICOM": {"PatientName": "X^Y"}}}


def test_get_image_set_returns_string_versions_and_epoch_times() -> None:
    api, transport, _ = make_api(
        [Answer(body=image_set("3", "ACTIVE", imageSetWorkflowStatus="UPDATED", createdAt=1680042257.908,
                               overrides={"forced": True}, isPrimary=True))]
    )
    info = api.get_image_set(DS, IS)
    assert (info.version_id, info.state, info.workflow_status) == ("3", "ACTIVE", "UPDATED")
    assert info.created_at == pytest.approx(1680042257.908)
    assert info.forced is True and info.is_primary is True
    assert api.stats["GetImageSet"] == 1
    assert transport.requests[0][2].endswith(f"/datastore/{DS}/imageSet/{IS}/getImageSet")
    assert transport.requests[0][0] == "GetImageSet"  # named from the route, not botocore internals


def test_get_image_set_passes_the_version() -> None:
    api, transport, _ = make_api([Answer(body=image_set("2"))])
    api.get_image_set(DS, IS, version="2")
    assert parse_qs(urlparse(transport.requests[0][2]).query) == {"version": ["2"]}


@pytest.mark.parametrize("zipped", [True, False])
def test_metadata_is_gunzipped_only_when_gzip(zipped: bool) -> None:
    api, transport, _ = make_api([metadata_answer(DOC, zipped=zipped)])
    assert api.get_image_set_metadata(DS, IS, version="4") == DOC
    assert parse_qs(urlparse(transport.requests[0][2]).query) == {"version": ["4"]}


@pytest.mark.parametrize(
    "body",
    [b"\x1f\x8b\x08garbage", b"not json", b"[1, 2]"],
    ids=["corrupt-gzip", "not-json", "not-an-object"],
)
def test_bad_metadata_bodies_are_service_errors_without_content(body: bytes) -> None:
    api, _, _ = make_api([Answer(200, body, {"Content-Encoding": "gzip"})])
    with pytest.raises(ServiceError) as info:
        api.get_image_set_metadata(DS, IS)
    assert info.value.code == "BadMetadata"
    assert "garbage" not in str(info.value) and IS in str(info.value)


def test_a_connection_dropped_while_reading_metadata_is_retried() -> None:
    api, _, clock = make_api([ConnectionClosedError(endpoint_url="http://x"), metadata_answer(DOC)])
    assert api.get_image_set_metadata(DS, IS) == DOC
    assert api.stats["GetImageSetMetadata"] == 2
    assert api.stats.retries() == {"GetImageSetMetadata": 1}
    assert clock.sleeps == [0.5]


def test_list_versions_reads_every_page_newest_first() -> None:
    pages = [
        Answer(body={"imageSetPropertiesList": [
            {"imageSetId": IS, "versionId": str(v), "imageSetState": "ACTIVE",
             "ImageSetWorkflowStatus": "UPDATED"} for v in range(60, 10, -1)], "nextToken": "t1"}),
        Answer(body={"imageSetPropertiesList": [
            {"imageSetId": IS, "versionId": str(v), "imageSetState": "ACTIVE"} for v in range(10, 0, -1)]}),
    ]
    api, transport, _ = make_api(pages)
    versions = list(api.list_image_set_versions(DS, IS))
    assert [v.version_id for v in versions] == [str(v) for v in range(60, 0, -1)]
    assert versions[0].workflow_status == "UPDATED"  # the model's capital-I key
    queries = [parse_qs(urlparse(r[2]).query) for r in transport.requests]
    assert queries == [{"maxResults": ["50"]}, {"maxResults": ["50"], "nextToken": ["t1"]}]
    assert api.stats["ListImageSetVersions"] == 2


def test_search_sends_one_equal_filter_and_reads_every_page() -> None:
    hit = {"imageSetId": IS, "version": 3, "DICOMTags": {"DICOMPatientId": "P1"}}
    api, transport, _ = make_api([
        Answer(body={"imageSetsMetadataSummaries": [hit], "nextToken": "n"}),
        Answer(body={"imageSetsMetadataSummaries": [dict(hit, imageSetId="b" * 32, version=1)]}),
    ])
    hits = list(api.search_image_sets(DS, "DICOMPatientId", "P1"))
    assert [(h.image_set_id, h.version) for h in hits] == [(IS, "3"), ("b" * 32, "1")]
    assert json.loads(transport.requests[0][3]) == {
        "filters": [{"operator": "EQUAL", "values": [{"DICOMPatientId": "P1"}]}]
    }
    assert api.stats["SearchImageSets"] == 2


@pytest.mark.parametrize("key", ["PatientName", "createdAt", "DICOMStudyDateAndTime", ""])
def test_search_by_other_keys_is_a_usage_error(key: str) -> None:
    api, transport, _ = make_api([])
    with pytest.raises(UsageError):
        list(api.search_image_sets(DS, key, "v"))
    assert transport.requests == []


def test_update_sends_the_guard_force_and_both_blobs() -> None:
    answer = {"datastoreId": DS, "imageSetId": IS, "latestVersionId": "2", "imageSetState": "LOCKED",
              "imageSetWorkflowStatus": "UPDATING"}
    api, transport, _ = make_api([Answer(body=answer)])
    result = api.update_image_set_metadata(DS, IS, "1", updatable=b'{"a":1}', removable=b'{"b":2}', force=True)
    assert (result.latest_version_id, result.state, result.workflow_status) == ("2", "LOCKED", "UPDATING")
    _, _, url, body = transport.requests[0]
    assert parse_qs(urlparse(url).query)["latestVersion"] == ["1"]
    assert parse_qs(urlparse(url).query)["force"] == ["true"]
    sent = json.loads(body)["DICOMUpdates"]
    assert base64.b64decode(sent["updatableAttributes"]) == b'{"a":1}'
    assert base64.b64decode(sent["removableAttributes"]) == b'{"b":2}'


def test_update_with_nothing_to_send_is_refused_locally() -> None:
    api, transport, _ = make_api([])
    with pytest.raises(UsageError):
        api.update_image_set_metadata(DS, IS, "1")
    assert transport.requests == []


def test_revert_sends_revert_to_version() -> None:
    answer = {"datastoreId": DS, "imageSetId": IS, "latestVersionId": "5", "imageSetState": "LOCKED"}
    api, transport, _ = make_api([Answer(body=answer)])
    assert api.revert_image_set(DS, IS, "4", "2").latest_version_id == "5"
    assert json.loads(transport.requests[0][3]) == {"revertToVersionId": "2"}


def test_conflict_is_stale_with_planned_and_current_versions() -> None:
    api, _, _ = make_api([error("ConflictException", 409), Answer(body=image_set("7"))])
    with pytest.raises(StaleVersion) as info:
        api.update_image_set_metadata(DS, IS, "5", updatable=b"{}")
    assert (info.value.planned_version, info.value.current_version) == ("5", "7")
    assert info.value.exit_code == 3


def test_conflict_when_the_current_version_cannot_be_read_is_still_stale() -> None:
    api, _, _ = make_api([error("ConflictException", 409), error("AccessDeniedException", 403)])
    with pytest.raises(StaleVersion) as info:
        api.update_image_set_metadata(DS, IS, "5", updatable=b"{}")
    assert (info.value.planned_version, info.value.current_version) == ("5", None)


def test_conflict_at_the_same_version_is_a_busy_image_set_not_stale() -> None:
    api, _, _ = make_api([error("ConflictException", 409), Answer(body=image_set("5", "LOCKED"))])
    with pytest.raises(ServiceError) as info:
        api.update_image_set_metadata(DS, IS, "5", updatable=b"{}")
    assert not isinstance(info.value, StaleVersion)
    assert info.value.code == "ConflictException" and "LOCKED" in str(info.value)


@pytest.mark.parametrize(
    "first_failure",
    [ConnectionClosedError(endpoint_url="http://x"), ReadTimeoutError(endpoint_url="http://x"),
     error("InternalServerException", 500)],
    ids=["dropped", "read-timeout", "500"],
)
def test_an_update_that_landed_before_its_answer_was_lost_is_ours(first_failure: object) -> None:
    """Retry after an ambiguous failure meets our own write: not stale, the new version is returned."""
    api, _, _ = make_api([
        first_failure,  # type: ignore[list-item]
        error("ConflictException", 409),
        Answer(body=image_set("6", "LOCKED", imageSetWorkflowStatus="UPDATING")),
    ])
    result = api.update_image_set_metadata(DS, IS, "5", updatable=b"{}")
    assert (result.latest_version_id, result.state) == ("6", "LOCKED")
    assert api.stats["UpdateImageSetMetadata"] == 2 and api.stats["GetImageSet"] == 1


def test_a_throttled_update_then_conflict_stays_stale() -> None:
    """A throttled attempt never reached the service, so a later conflict is someone else's write."""
    api, _, _ = make_api([
        error("ThrottlingException", 429),
        error("ConflictException", 409),
        Answer(body=image_set("6")),
    ])
    with pytest.raises(StaleVersion):
        api.update_image_set_metadata(DS, IS, "5", updatable=b"{}")


def test_datastores_get_and_list() -> None:
    props = {"datastoreId": DS, "datastoreName": "demo", "datastoreStatus": "ACTIVE", "datastoreArn": "arn:x",
             "createdAt": 1.0, "updatedAt": 1.0}
    summary = {k: props[k] for k in ("datastoreId", "datastoreName", "datastoreStatus", "datastoreArn")}
    api, _, _ = make_api([Answer(body={"datastoreProperties": props}),
                          Answer(body={"datastoreSummaries": [summary], "nextToken": "n"}),
                          Answer(body={"datastoreSummaries": [dict(summary, datastoreId="2" * 32)]})])
    assert api.get_datastore(DS).name == "demo"
    assert [d.datastore_id for d in api.list_datastores()] == [DS, "2" * 32]
    assert api.stats.calls() == {"GetDatastore": 1, "ListDatastores": 2}


def test_the_search_of_what_changed_asks_updated_at_between_sorted_50_a_page_and_reads_every_page() -> None:
    hit = {"imageSetId": IS, "version": 4, "updatedAt": 1700000100.5, "createdAt": 1690000000.0,
           "isPrimary": True, "storageTier": "ARCHIVE_INSTANT_ACCESS"}
    api, transport, _ = make_api([
        Answer(body={"imageSetsMetadataSummaries": [hit], "nextToken": "n"}),
        Answer(body={"imageSetsMetadataSummaries": [dict(hit, imageSetId="b" * 32, version=2)]}),
    ])
    hits = list(api.search_updated(DS, 1700000000.7, 1700000200.2))
    assert [(h.image_set_id, h.version, h.is_primary, h.storage_tier) for h in hits] == [
        (IS, "4", True, "ARCHIVE_INSTANT_ACCESS"), ("b" * 32, "2", True, "ARCHIVE_INSTANT_ACCESS")]
    body = json.loads(transport.requests[0][3])
    assert body == {"filters": [{"operator": "BETWEEN", "values": [{"updatedAt": 1700000000},
                                                                  {"updatedAt": 1700000201}]}],
                    "sort": {"sortField": "updatedAt", "sortOrder": "ASC"}}  # widened to whole seconds
    queries = [parse_qs(urlparse(r[2]).query) for r in transport.requests]
    assert queries == [{"maxResults": ["50"]}, {"maxResults": ["50"], "nextToken": ["n"]}]
    assert api.stats["SearchImageSets"] == 2
