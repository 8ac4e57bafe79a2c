"""Datastore and image-set read/delete operations, versions listing and routing, via a real boto3 client."""

from __future__ import annotations

import gzip
import json
import sqlite3
from typing import Any

import pytest
from botocore.exceptions import ClientError, ParamValidationError

from reconciler.emulator.service import Service
from reconciler.emulator.store import Store
from reconciler.emulator.wire import WireRequest
from tests.support.emuhelpers import DS, IS, error_code, load_doc, metadata, update

SEED = load_doc("seed_examples.json")


def test_create_get_and_list_datastores(client: Any) -> None:
    created = client.create_datastore(datastoreName="my-store")
    assert created["datastoreStatus"] == "ACTIVE"
    props = client.get_datastore(datastoreId=created["datastoreId"])["datastoreProperties"]
    assert (props["datastoreName"], props["datastoreStatus"]) == ("my-store", "ACTIVE")
    ids = [d["datastoreId"] for d in client.list_datastores()["datastoreSummaries"]]
    assert set(ids) == {DS, created["datastoreId"]}


def test_create_datastore_is_idempotent_per_client_token(client: Any) -> None:
    first = client.create_datastore(datastoreName="a", clientToken="token-1")["datastoreId"]
    assert client.create_datastore(datastoreName="a", clientToken="token-1")["datastoreId"] == first
    assert client.create_datastore(datastoreName="a", clientToken="token-2")["datastoreId"] != first


@pytest.mark.parametrize("kwargs", [{"datastoreName": "bad name!"}, {"clientToken": "bad token!"},
                                    {"datastoreName": "x" * 257}])
def test_create_datastore_validation(client: Any, kwargs: dict[str, str]) -> None:
    with pytest.raises(ClientError) as err:
        client.create_datastore(**kwargs)
    assert error_code(err.value) == "ValidationException"


def test_list_datastores_paginates(client: Any) -> None:
    for n in range(3):
        client.create_datastore(datastoreName=f"s{n}")
    pages = list(client.get_paginator("list_datastores").paginate(PaginationConfig={"PageSize": 2}))
    assert [len(p["datastoreSummaries"]) for p in pages] == [2, 2]


def test_get_image_set_and_metadata_headers(client: Any) -> None:
    state = client.get_image_set(datastoreId=DS, imageSetId=IS)
    assert (state["versionId"], state["imageSetState"], state["imageSetWorkflowStatus"]) == (
        "1", "ACTIVE", "CREATED")
    assert state["imageSetArn"].endswith(f"datastore/{DS}/imageset/{IS}")
    raw = client.get_image_set_metadata(datastoreId=DS, imageSetId=IS)
    assert (raw["contentType"], raw["contentEncoding"]) == ("application/json", "gzip")
    assert json.loads(gzip.decompress(raw["imageSetMetadataBlob"].read())) == SEED


def test_metadata_and_state_by_version(client: Any) -> None:
    update(client, {"Patient": {"DICOM": {"PatientName": "A^B"}}})
    assert metadata(client, "1") == SEED
    assert metadata(client, "2")["Patient"]["DICOM"]["PatientName"] == "A^B"
    assert client.get_image_set(datastoreId=DS, imageSetId=IS, versionId="1")["versionId"] == "1"


@pytest.mark.parametrize(("kwargs", "code"), [
    ({"datastoreId": DS, "imageSetId": "0" * 32}, "ResourceNotFoundException"),
    ({"datastoreId": "f" * 32, "imageSetId": IS}, "ResourceNotFoundException"),
    ({"datastoreId": DS, "imageSetId": IS, "versionId": "7"}, "ResourceNotFoundException"),
    ({"datastoreId": DS, "imageSetId": "NOT-AN-ID"}, "ValidationException"),
    ({"datastoreId": DS, "imageSetId": IS, "versionId": "v1"}, "ValidationException"),
])
@pytest.mark.parametrize("operation", ["get_image_set", "get_image_set_metadata"])
def test_read_errors(client: Any, operation: str, kwargs: dict[str, str], code: str) -> None:
    with pytest.raises(ClientError) as err:
        getattr(client, operation)(**kwargs)
    assert error_code(err.value) == code


def test_delete_image_set(client: Any) -> None:
    answer = client.delete_image_set(datastoreId=DS, imageSetId=IS)
    assert (answer["imageSetState"], answer["imageSetWorkflowStatus"]) == ("LOCKED", "DELETING")
    assert client.get_image_set(datastoreId=DS, imageSetId=IS)["imageSetState"] == "DELETED"
    for call in (lambda: metadata(client), lambda: client.delete_image_set(datastoreId=DS, imageSetId=IS),
                 lambda: update(client, {"Patient": {"DICOM": {"PatientName": "A^B"}}})):
        with pytest.raises(ClientError) as err:
            call()
        assert error_code(err.value) == "ResourceNotFoundException"


def test_versions_newest_first_with_pagination_past_50(client: Any) -> None:
    for version in range(1, 56):
        update(client, {"Patient": {"DICOM": {"PatientName": f"N^{version}"}}}, version=str(version))
    pages = list(client.get_paginator("list_image_set_versions").paginate(datastoreId=DS, imageSetId=IS))
    assert [len(p["imageSetPropertiesList"]) for p in pages] == [50, 6]
    items = [i for p in pages for i in p["imageSetPropertiesList"]]
    assert [i["versionId"] for i in items] == [str(v) for v in range(56, 0, -1)]
    assert items[0]["ImageSetWorkflowStatus"] == "UPDATED" and items[-1]["ImageSetWorkflowStatus"] == "CREATED"
    small = client.list_image_set_versions(datastoreId=DS, imageSetId=IS, maxResults=3)
    nxt = client.list_image_set_versions(datastoreId=DS, imageSetId=IS, maxResults=3, nextToken=small["nextToken"])
    assert [i["versionId"] for i in nxt["imageSetPropertiesList"]] == ["53", "52", "51"]


@pytest.mark.parametrize("kwargs", [{"maxResults": 51}, {"nextToken": "garbage"}])
def test_versions_bad_paging_parameters(client: Any, kwargs: dict[str, Any]) -> None:
    with pytest.raises(ClientError) as err:
        client.list_image_set_versions(datastoreId=DS, imageSetId=IS, **kwargs)
    assert error_code(err.value) == "ValidationException"


def test_botocore_checks_the_minimum_itself(client: Any) -> None:
    with pytest.raises(ParamValidationError):
        client.list_image_set_versions(datastoreId=DS, imageSetId=IS, maxResults=0)


# -- the service core directly: what botocore would never send -------------------------------------


@pytest.fixture
def service(seeded: Store) -> Service:
    return Service(seeded)


def _path(op: str) -> str:
    return f"/datastore/{DS}/imageSet/{IS}/{op}"


@pytest.mark.parametrize(("method", "path", "status", "code"), [
    ("GET", "/nowhere", 404, "UnknownOperationException"),
    ("DELETE", _path("getImageSet"), 404, "UnknownOperationException"),
    ("POST", _path("updateImageSetMetadata"), 400, "ValidationException"),  # no latestVersion
])
def test_unroutable_or_incomplete_requests(service: Service, method: str, path: str, status: int, code: str) -> None:
    answer = service.handle(WireRequest(method, path, {}, {}))
    assert (answer.status, answer.headers["x-amzn-ErrorType"]) == (status, code)
    assert "message" in json.loads(answer.body)


@pytest.mark.parametrize("body", [
    {"revertToVersionId": "1", "DICOMUpdates": {"updatableAttributes": "e30="}},
    {},
    {"DICOMUpdates": {}},
    {"DICOMUpdates": {"updatableAttributes": "%%%"}},
])
def test_union_and_blob_checks_botocore_skips(service: Service, body: dict[str, Any]) -> None:
    req = WireRequest("POST", _path("updateImageSetMetadata"), {"latestVersion": "1"}, {}, json.dumps(body).encode())
    answer = service.handle(req)
    assert (answer.status, answer.headers["x-amzn-ErrorType"]) == (400, "ValidationException")


def test_internal_error_is_a_generic_500(service: Service) -> None:
    # A corrupt document row (not JSON) makes the operation fail inside the service.
    with sqlite3.connect(service.store.path) as conn:
        conn.execute("UPDATE versions SET document = '{\"PatientName\": \"MISTER^CT\"' WHERE version = 1")
    answer = service.handle(WireRequest("POST", _path("getImageSetMetadata"), {}, {}))
    assert (answer.status, answer.headers["x-amzn-ErrorType"]) == (500, "InternalServerException")
    assert b"MISTER" not in answer.body and b"Traceback" not in answer.body


def test_hostile_nesting_is_a_validation_error(client: Any, service: Service) -> None:
    deep = b'{"SchemaVersion":1.1,"Patient":' + b"[" * 5000 + b"]" * 5000 + b"}"
    with pytest.raises(ClientError) as err:
        client.update_image_set_metadata(datastoreId=DS, imageSetId=IS, latestVersionId="1",
                                         updateImageSetMetadataUpdates={"DICOMUpdates": {"updatableAttributes": deep}})
    assert error_code(err.value) == "ValidationException"
    body = b'{"DICOMUpdates":' + b"[" * 50_000 + b"]" * 50_000 + b"}"
    answer = service.handle(WireRequest("POST", _path("updateImageSetMetadata"), {"latestVersion": "1"}, {}, body))
    assert (answer.status, answer.headers["x-amzn-ErrorType"]) == (400, "ValidationException")


def test_list_datastores_rejects_an_unknown_status(client: Any) -> None:
    with pytest.raises(ClientError) as err:
        client.list_datastores(datastoreStatus="BOGUS")
    assert error_code(err.value) == "ValidationException"
    assert len(client.list_datastores(datastoreStatus="ACTIVE")["datastoreSummaries"]) == 1


def test_internal_error_log_names_no_values(service: Service, caplog: pytest.LogCaptureFixture) -> None:
    with sqlite3.connect(service.store.path) as conn:
        conn.execute("UPDATE versions SET document = '{\"PatientName\": \"MISTER^CT\"' WHERE version = 1")
    service.handle(WireRequest("POST", _path("getImageSetMetadata"), {}, {}))
    assert "JSONDecodeError" in caplog.text and "MISTER" not in caplog.text
