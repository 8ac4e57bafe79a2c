"""DeleteImageSet is asynchronous, as AWS answers it: LOCKED/DELETING for the lock time (readable, not
writable, still found), then DELETED with ``deletedAt`` on GetImageSet and gone for everything else
(both transports, real boto3, fake clock). A lock time of 0 deletes at once."""

from __future__ import annotations

from typing import Any

import pytest
from botocore.exceptions import ClientError

from reconciler.emulator.knobs import EmulatorConfig
from tests.support.emuhelpers import DS, IS, error_code, metadata, state, update

LOCK = 30.0
PATIENT = {"Patient": {"DICOM": {"PatientName": "A^B"}}}


def _search(client: Any) -> list[tuple[str, str]]:
    found = client.search_image_sets(datastoreId=DS, searchCriteria={})["imageSetsMetadataSummaries"]
    return [(s["imageSetId"], s["version"]) for s in found]


def test_delete_is_deleting_until_the_lock_ends_then_deleted(transport: Any, store_dir: Any, seeded: Any,
                                                            clock: Any) -> None:
    client = transport(store_dir, EmulatorConfig(lock_seconds=LOCK), clock)
    answer = client.delete_image_set(datastoreId=DS, imageSetId=IS)
    assert (answer["datastoreId"], answer["imageSetId"]) == (DS, IS)
    assert (answer["imageSetState"], answer["imageSetWorkflowStatus"]) == ("LOCKED", "DELETING")

    assert state(client) == ("1", "LOCKED", "DELETING")
    assert "deletedAt" not in client.get_image_set(datastoreId=DS, imageSetId=IS)
    assert metadata(client)["ImageSetID"] == IS  # a lock stops writes, not reads
    assert _search(client) == [(IS, 1)]
    for write in (lambda: client.delete_image_set(datastoreId=DS, imageSetId=IS), lambda: update(client, PATIENT)):
        with pytest.raises(ClientError) as err:
            write()
        assert error_code(err.value) == "ConflictException"
        assert "LOCKED (DELETING in progress)" in err.value.response["Error"]["Message"]

    clock.advance(LOCK - 0.001)
    assert state(client) == ("1", "LOCKED", "DELETING")
    clock.advance(0.001)
    got = client.get_image_set(datastoreId=DS, imageSetId=IS)
    assert (got["imageSetState"], got["imageSetWorkflowStatus"]) == ("DELETED", "DELETED")
    assert got["deletedAt"].timestamp() == pytest.approx(clock())
    assert _search(client) == []
    for gone in (lambda: metadata(client), lambda: client.delete_image_set(datastoreId=DS, imageSetId=IS),
                 lambda: update(client, PATIENT),
                 lambda: client.list_image_set_versions(datastoreId=DS, imageSetId=IS)):
        with pytest.raises(ClientError) as err:
            gone()
        assert error_code(err.value) == "ResourceNotFoundException"


def test_lock_seconds_zero_deletes_at_once(client: Any) -> None:
    assert client.delete_image_set(datastoreId=DS, imageSetId=IS)["imageSetWorkflowStatus"] == "DELETING"
    assert state(client) == ("1", "DELETED", "DELETED")


def test_an_image_set_locked_by_an_update_cannot_be_deleted_until_the_update_ends(
    transport: Any, store_dir: Any, seeded: Any, clock: Any
) -> None:
    client = transport(store_dir, EmulatorConfig(lock_seconds=LOCK), clock)
    update(client, PATIENT)
    with pytest.raises(ClientError) as err:
        client.delete_image_set(datastoreId=DS, imageSetId=IS)
    assert error_code(err.value) == "ConflictException"
    clock.advance(LOCK)
    client.delete_image_set(datastoreId=DS, imageSetId=IS)
    assert state(client) == ("2", "LOCKED", "DELETING")
    assert state(client, version="1") == ("1", "ACTIVE", "CREATED")
