"""UpdateImageSetMetadata with includeStudyImageSets: one atomic update of every primary image set of the
study, siblings LOCKED as UPDATING_FOR_STUDY_CONSISTENCY, refused with revertToVersionId (both transports)."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from botocore.exceptions import ClientError

from reconciler.emulator.knobs import EmulatorConfig
from reconciler.emulator.store import Store
from tests.support.emuhelpers import DS, INSTANCE7, SERIES7, blob, error_code, load_doc, metadata

A, B, C, D = "a" * 32, "b" * 32, "c" * 32, "d" * 32
SEED = load_doc("seed_examples.json")
LOCK = 30.0


def _other_study() -> dict[str, Any]:
    doc = copy.deepcopy(SEED)
    doc["Study"]["DICOM"]["StudyInstanceUID"] = "1.2.3.4.5"
    return doc


def _without_series7() -> dict[str, Any]:
    doc = copy.deepcopy(SEED)
    del doc["Study"]["Series"][SERIES7]
    return doc


@pytest.fixture
def study_store(store: Store, clock: Any) -> Store:
    """A and B: primaries of one study (B without series 7); C: non-primary of it; D: a primary of another."""
    store.ensure_datastore(DS, now=clock())
    store.put_image_set(DS, A, SEED, now=clock())
    store.put_image_set(DS, B, _without_series7(), now=clock())
    store.put_image_set(DS, C, SEED, is_primary=False, now=clock())
    store.put_image_set(DS, D, _other_study(), now=clock())
    return store


def _client(transport: Any, store_dir: Any, clock: Any, **config: Any) -> Any:
    return transport(store_dir, EmulatorConfig(lock_seconds=LOCK, **config), clock)


def _study_update(client: Any, updatable: dict[str, Any], *, image_set_id: str = A, version: str = "1",
                  force: bool = False) -> dict[str, Any]:
    answer: dict[str, Any] = client.update_image_set_metadata(
        datastoreId=DS, imageSetId=image_set_id, latestVersionId=version, includeStudyImageSets=True, force=force,
        updateImageSetMetadataUpdates={"DICOMUpdates": {"updatableAttributes": blob(updatable)}})
    return answer


def _versions(client: Any) -> dict[str, str]:
    return {i: client.get_image_set(datastoreId=DS, imageSetId=i)["versionId"] for i in (A, B, C, D)}


HEAD = {"Study": {"DICOM": {"StudyDescription": "HEAD"}}}


def test_every_primary_of_the_study_gets_a_new_version(transport: Any, store_dir: Any, study_store: Store,
                                                        clock: Any) -> None:
    client = _client(transport, store_dir, clock)
    answer = _study_update(client, HEAD)
    assert (answer["imageSetId"], answer["latestVersionId"], answer["imageSetState"]) == (A, "2", "LOCKED")
    assert _versions(client) == {A: "2", B: "2", C: "1", D: "1"}

    a, b = (client.get_image_set(datastoreId=DS, imageSetId=i) for i in (A, B))
    assert (a["imageSetState"], a["imageSetWorkflowStatus"]) == ("LOCKED", "UPDATING")
    assert (b["imageSetState"], b["imageSetWorkflowStatus"]) == ("LOCKED", "UPDATING_FOR_STUDY_CONSISTENCY")
    (newest, _first) = client.list_image_set_versions(datastoreId=DS, imageSetId=B)["imageSetPropertiesList"]
    assert newest["ImageSetWorkflowStatus"] == "UPDATING_FOR_STUDY_CONSISTENCY"

    clock.advance(LOCK + 1)
    for image_set_id in (A, B):
        state = client.get_image_set(datastoreId=DS, imageSetId=image_set_id)
        assert (state["imageSetState"], state["imageSetWorkflowStatus"]) == ("ACTIVE", "UPDATED")
        assert metadata(client, image_set_id=image_set_id)["Study"]["DICOM"]["StudyDescription"] == "HEAD"
    for image_set_id in (C, D):
        assert metadata(client, image_set_id=image_set_id)["Study"]["DICOM"]["StudyDescription"] == "CHEST"


def test_without_the_flag_only_the_requested_image_set_changes(transport: Any, store_dir: Any,
                                                               study_store: Store, clock: Any) -> None:
    client = _client(transport, store_dir, clock)
    client.update_image_set_metadata(
        datastoreId=DS, imageSetId=A, latestVersionId="1",
        updateImageSetMetadataUpdates={"DICOMUpdates": {"updatableAttributes": blob(HEAD)}})
    assert _versions(client) == {A: "2", B: "1", C: "1", D: "1"}


def test_refused_with_revert_to_version_id(transport: Any, store_dir: Any, study_store: Store, clock: Any) -> None:
    client = _client(transport, store_dir, clock)
    with pytest.raises(ClientError) as err:
        client.update_image_set_metadata(datastoreId=DS, imageSetId=A, latestVersionId="1",
                                         includeStudyImageSets=True,
                                         updateImageSetMetadataUpdates={"revertToVersionId": "1"})
    assert error_code(err.value) == "ValidationException"
    assert "revertToVersionId" in err.value.response["Error"]["Message"]
    assert _versions(client) == {A: "1", B: "1", C: "1", D: "1"}


def test_a_locked_sibling_refuses_the_whole_update(transport: Any, store_dir: Any, study_store: Store,
                                                   clock: Any) -> None:
    client = _client(transport, store_dir, clock)
    client.update_image_set_metadata(  # B alone, still LOCKED
        datastoreId=DS, imageSetId=B, latestVersionId="1",
        updateImageSetMetadataUpdates={"DICOMUpdates": {"updatableAttributes": blob(HEAD)}})
    with pytest.raises(ClientError) as err:
        _study_update(client, {"Study": {"DICOM": {"StudyDescription": "NECK"}}})
    assert error_code(err.value) == "ConflictException"
    assert B in err.value.response["Error"]["Message"]
    assert _versions(client) == {A: "1", B: "2", C: "1", D: "1"}


def test_a_stale_version_refuses_the_whole_update(transport: Any, store_dir: Any, study_store: Store,
                                                  clock: Any) -> None:
    client = _client(transport, store_dir, clock)
    with pytest.raises(ClientError) as err:
        _study_update(client, HEAD, version="2")
    assert error_code(err.value) == "ConflictException"
    assert _versions(client) == {A: "1", B: "1", C: "1", D: "1"}


def test_a_failure_on_one_fails_all_and_keeps_every_document(transport: Any, store_dir: Any,
                                                             study_store: Store, clock: Any) -> None:
    """Series 7 is in A but not in B: B cannot take the update, so neither changes (atomic)."""
    client = _client(transport, store_dir, clock)
    instance = {"Study": {"Series": {SERIES7: {"Instances": {INSTANCE7: {"DICOM": {"InstanceNumber": "3"}}}}}}}
    assert _study_update(client, instance)["latestVersionId"] == "2"
    clock.advance(LOCK + 1)
    for image_set_id in (A, B):
        state = client.get_image_set(datastoreId=DS, imageSetId=image_set_id)
        assert (state["versionId"], state["imageSetWorkflowStatus"]) == ("2", "UPDATE_FAILED")
        assert SERIES7 in state["message"]
        assert metadata(client, image_set_id=image_set_id) == metadata(client, "1", image_set_id=image_set_id)


def test_primary_rules_apply_to_study_wide_updates(transport: Any, store_dir: Any, study_store: Store,
                                                   clock: Any) -> None:
    client = _client(transport, store_dir, clock)
    with pytest.raises(ClientError) as err:
        _study_update(client, {"Patient": {"DICOM": {"PatientName": "MX^MX"}}})
    assert error_code(err.value) == "ValidationException"
    assert _versions(client) == {A: "1", B: "1", C: "1", D: "1"}

    lenient = _client(transport, store_dir, clock, lenient_primary=True)
    _study_update(lenient, {"Patient": {"DICOM": {"PatientName": "MX^MX"}}})
    clock.advance(LOCK + 1)
    assert {i: metadata(lenient, image_set_id=i)["Patient"]["DICOM"]["PatientName"] for i in (A, B)} == {
        A: "MX^MX", B: "MX^MX"}


def test_a_non_primary_cannot_request_a_study_wide_update(transport: Any, store_dir: Any, study_store: Store,
                                                          clock: Any) -> None:
    client = _client(transport, store_dir, clock)
    with pytest.raises(ClientError) as err:
        _study_update(client, HEAD, image_set_id=C)
    assert error_code(err.value) == "ValidationException"
    assert "not a primary" in err.value.response["Error"]["Message"]
    assert _versions(client) == {A: "1", B: "1", C: "1", D: "1"}


def test_the_flag_reaches_the_wire_as_the_model_names_it(transport: Any, store_dir: Any, study_store: Store,
                                                         clock: Any) -> None:
    """Control for the tests above: a raw `includeStudyImageSets=true` query is what the service reads."""
    client = _client(transport, store_dir, clock)
    seen: list[str] = []
    client.meta.events.register("before-sign.medical-imaging.UpdateImageSetMetadata",
                                lambda request, **_: seen.append(request.url))
    _study_update(client, HEAD)
    assert "includeStudyImageSets=true" in seen[0]
    assert _versions(client) == {A: "2", B: "2", C: "1", D: "1"}
