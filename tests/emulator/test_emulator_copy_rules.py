"""CopyImageSet's refusals and promotions: promoteToPrimary (a new primary ID, refused while another
primary holds the same SOP instances), version guards and locks on source and destination, request
validation, and the documented 0.25 TPS / burst 1 quota (both transports, real boto3)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from botocore.exceptions import ClientError, ParamValidationError

from reconciler.emulator.knobs import EmulatorConfig, documented_limits
from reconciler.emulator.service import Service
from reconciler.emulator.store import Store
from reconciler.emulator.wire import WireRequest
from tests.support.emuhelpers import (
    DS,
    IS,
    SERIES,
    copy,
    error_code,
    load_doc,
    metadata,
    seed_primary_and_copy,
    state,
    update,
)

COPY = "c" * 32
OTHER = "e" * 32
SEED = load_doc("seed_examples.json")
LOCK = 30.0


@pytest.fixture
def primary_store(store: Store, clock: Any) -> Store:
    """IS primary (what an import makes); COPY a non-primary copy of it (what a first CopyImageSet makes)."""
    return seed_primary_and_copy(store, clock(), COPY)


@pytest.fixture
def locking(transport: Any, store_dir: Any, primary_store: Store, clock: Any) -> Any:
    return transport(store_dir, EmulatorConfig(lock_seconds=LOCK), clock)


def _live_ids(store: Store, clock: Any) -> set[str]:
    return {row.image_set_id for row, _doc in store.latest_documents(DS, now=clock())}


def test_promotion_waits_for_the_primary_to_be_deleted_then_makes_a_new_primary(
    locking: Any, primary_store: Store, clock: Any
) -> None:
    with pytest.raises(ClientError) as err:
        copy(locking, COPY, promote=True)
    assert error_code(err.value) == "ConflictException"
    assert err.value.response["ResponseMetadata"]["HTTPStatusCode"] == 409
    assert f"primary image set {IS} holds 2 of the same SOP instances" in err.value.response["Error"]["Message"]
    assert _live_ids(primary_store, clock) == {IS, COPY}

    locking.delete_image_set(datastoreId=DS, imageSetId=IS)
    with pytest.raises(ClientError) as err:  # still DELETING: it still holds them
        copy(locking, COPY, promote=True)
    assert error_code(err.value) == "ConflictException"

    clock.advance(LOCK)
    assert state(locking, IS) == ("1", "DELETED", "DELETED")
    promoted = copy(locking, COPY, promote=True)["destinationImageSetProperties"]
    new = promoted["imageSetId"]
    assert new not in (IS, COPY) and promoted["latestVersionId"] == "1"
    clock.advance(LOCK)
    got = locking.get_image_set(datastoreId=DS, imageSetId=new)
    assert (got["isPrimary"], got["imageSetState"], got["imageSetWorkflowStatus"]) == (True, "ACTIVE", "COPIED")
    assert metadata(locking, image_set_id=new) == {**SEED, "DatastoreID": DS, "ImageSetID": new}
    assert locking.get_image_set(datastoreId=DS, imageSetId=COPY)["isPrimary"] is False
    found = locking.search_image_sets(datastoreId=DS, searchCriteria={
        "filters": [{"operator": "EQUAL", "values": [{"isPrimary": True}]}]})["imageSetsMetadataSummaries"]
    assert [s["imageSetId"] for s in found] == [new]
    with pytest.raises(ClientError) as err:  # and now the new primary holds them: no second promotion
        copy(locking, COPY, promote=True)
    assert error_code(err.value) == "ConflictException"


def test_a_primary_source_cannot_be_promoted_again(transport: Any, store_dir: Any, primary_store: Store,
                                                   clock: Any) -> None:
    client = transport(store_dir, None, clock)
    with pytest.raises(ClientError) as err:
        copy(client, IS, promote=True)
    assert error_code(err.value) == "ConflictException"
    plain = copy(client, IS)["destinationImageSetProperties"]["imageSetId"]  # a plain copy of a primary is fine
    assert client.get_image_set(datastoreId=DS, imageSetId=plain)["isPrimary"] is False


def test_a_copy_into_a_primary_destination_may_not_take_instances_another_primary_holds(
    transport: Any, store_dir: Any, primary_store: Store, clock: Any
) -> None:
    client = transport(store_dir, None, clock)
    doc = json.loads(json.dumps(SEED))
    doc["Study"]["Series"] = {}
    primary_store.put_image_set(DS, OTHER, doc, now=clock())  # a primary of the same study, no instances
    with pytest.raises(ClientError) as err:
        copy(client, COPY, destination=(OTHER, "1"))
    assert error_code(err.value) == "ConflictException"
    assert f"copied into primary image set {OTHER}" in err.value.response["Error"]["Message"]
    assert state(client, OTHER) == ("1", "ACTIVE", "CREATED")


def test_promotion_does_not_take_a_destination(transport: Any, store_dir: Any, primary_store: Store,
                                               clock: Any) -> None:
    client = transport(store_dir, None, clock)
    with pytest.raises(ClientError) as err:
        copy(client, COPY, destination=(IS, "1"), promote=True)
    assert error_code(err.value) == "ValidationException"


@pytest.mark.parametrize(("source_version", "destination_version"), [("2", None), ("0", None), ("1", "2")])
def test_stale_versions_of_source_or_destination_are_conflicts_and_write_nothing(
    transport: Any, store_dir: Any, primary_store: Store, clock: Any, source_version: str,
    destination_version: str | None
) -> None:
    client = transport(store_dir, None, clock)
    destination = (IS, destination_version) if destination_version else None
    with pytest.raises(ClientError) as err:
        copy(client, COPY, source_version, destination=destination, force=True)
    assert error_code(err.value) == "ConflictException"
    assert "is not the latest version (1)" in err.value.response["Error"]["Message"]
    assert _live_ids(primary_store, clock) == {IS, COPY}
    assert state(client, COPY) == state(client, IS) == ("1", "ACTIVE", "CREATED")


def test_a_locked_source_or_destination_is_a_conflict(locking: Any, clock: Any) -> None:
    update(locking, {"Study": {"DICOM": {"StudyDescription": "X"}}}, image_set_id=COPY)  # COPY LOCKED/UPDATING
    for source, destination in ((COPY, None), (IS, (COPY, "2"))):
        with pytest.raises(ClientError) as err:
            copy(locking, source, "2" if source == COPY else "1", destination=destination, force=True)
        assert error_code(err.value) == "ConflictException"
        assert "LOCKED (UPDATING in progress)" in err.value.response["Error"]["Message"]
    clock.advance(LOCK)
    assert copy(locking, COPY, "2")["sourceImageSetProperties"]["latestVersionId"] == "2"


def test_unknown_source_or_destination_is_not_found(transport: Any, store_dir: Any, primary_store: Store,
                                                    clock: Any) -> None:
    client = transport(store_dir, None, clock)
    for source, destination in ((OTHER, None), (COPY, (OTHER, "1"))):
        with pytest.raises(ClientError) as err:
            copy(client, source, destination=destination)
        assert error_code(err.value) == "ResourceNotFoundException"


BAD_COPIABLE = {
    "not-json": "{",
    "schema-version": json.dumps({"SchemaVersion": "2", "Study": {"Series": {SERIES: {}}}}),
    "no-series": json.dumps({"SchemaVersion": "1.1", "Study": {"Series": {}}}),
    "attributes": json.dumps({"SchemaVersion": "1.1", "Study": {"DICOM": {"StudyDescription": "X"}, "Series": {}}}),
    "instance-not-empty": json.dumps({"SchemaVersion": 1.1, "Study": {"Series": {SERIES: {"Instances": {
        SERIES: {"DICOM": {}}}}}}}),
    "too-long": json.dumps({"SchemaVersion": "1.1", "Study": {"Series": {SERIES: {}}}}) + " " * 260_000,
}


@pytest.mark.parametrize("case", sorted(BAD_COPIABLE))
def test_bad_copiable_attributes_are_validation_errors(transport: Any, store_dir: Any, primary_store: Store,
                                                       clock: Any, case: str) -> None:
    client = transport(store_dir, None, clock)
    with pytest.raises(ClientError) as err:
        client.copy_image_set(datastoreId=DS, sourceImageSetId=COPY, copyImageSetInformation={"sourceImageSet": {
            "latestVersionId": "1", "DICOMCopies": {"copiableAttributes": BAD_COPIABLE[case]}}})
    assert error_code(err.value) == "ValidationException"
    assert _live_ids(primary_store, clock) == {IS, COPY}


@pytest.mark.parametrize("information", [
    {"sourceImageSet": {"latestVersionId": "v1"}},
    {"sourceImageSet": {"latestVersionId": "1"}, "destinationImageSet": {"imageSetId": "NOT-AN-ID",
                                                                           "latestVersionId": "1"}},
    {"sourceImageSet": {"latestVersionId": "1"}, "destinationImageSet": {"imageSetId": COPY, "latestVersionId": "1"}},
], ids=["version-digits", "destination-id", "into-itself"])
def test_bad_requests_botocore_sends_are_validation_errors(transport: Any, store_dir: Any, primary_store: Store,
                                                           clock: Any, information: dict[str, Any]) -> None:
    client = transport(store_dir, None, clock)
    with pytest.raises(ClientError) as err:
        client.copy_image_set(datastoreId=DS, sourceImageSetId=COPY, copyImageSetInformation=information)
    assert error_code(err.value) == "ValidationException"


def test_botocore_itself_requires_the_source_version(transport: Any, store_dir: Any, primary_store: Store,
                                                     clock: Any) -> None:
    client = transport(store_dir, None, clock)
    with pytest.raises(ParamValidationError):
        client.copy_image_set(datastoreId=DS, sourceImageSetId=COPY, copyImageSetInformation={"sourceImageSet": {}})


@pytest.mark.parametrize("body", [b"[]", b'{"sourceImageSet": {"latestVersionId": 1}}',
                                  b'{"sourceImageSet": {"latestVersionId": "1"}, "extra": 1}',
                                  b'{"sourceImageSet": {"latestVersionId": "1"}, "destinationImageSet": {}}'])
def test_bodies_botocore_never_sends_are_validation_errors(primary_store: Store, body: bytes) -> None:
    path = f"/datastore/{DS}/imageSet/{COPY}/copyImageSet"
    answer = Service(primary_store).handle(WireRequest("POST", path, {}, {}, body))
    assert answer.status == 400
    assert json.loads(answer.body)["message"]


def test_documented_quotas_throttle_a_second_copy_or_delete_at_once(transport: Any, store_dir: Any,
                                                                     primary_store: Store, clock: Any) -> None:
    rates, bursts = documented_limits({}, {})
    assert (rates["CopyImageSet"], bursts["CopyImageSet"]) == (0.25, 1.0)
    assert (rates["DeleteImageSet"], bursts["DeleteImageSet"]) == (0.25, 1.0)
    client = transport(store_dir, EmulatorConfig(rates=rates, bursts=bursts), clock)
    copy(client, COPY)
    with pytest.raises(ClientError) as err:
        copy(client, COPY)
    assert error_code(err.value) == "ThrottlingException"
    client.delete_image_set(datastoreId=DS, imageSetId=COPY)  # a bucket of its own
    with pytest.raises(ClientError) as err:
        client.delete_image_set(datastoreId=DS, imageSetId=IS)
    assert error_code(err.value) == "ThrottlingException"
    assert state(client, IS) == ("1", "ACTIVE", "CREATED")


def test_an_override_replaces_one_documented_quota() -> None:
    rates, bursts = documented_limits({"CopyImageSet": 5.0, "*": 9.0}, {})
    assert rates["CopyImageSet"] == 5.0 and "CopyImageSet" not in bursts  # the override's default burst
    assert (rates["UpdateImageSetMetadata"], bursts["UpdateImageSetMetadata"]) == (0.25, 1.0)
