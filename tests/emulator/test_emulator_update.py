"""UpdateImageSetMetadata through a real boto3 client: merge/removal semantics, versions, locks, quota."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest
from botocore.exceptions import ClientError

from reconciler.emulator.knobs import EmulatorConfig
from tests.support.emuhelpers import (
    DS,
    INSTANCE,
    INSTANCE7,
    IS,
    SERIES,
    SERIES7,
    error_code,
    load_doc,
    metadata,
    update,
)

SEED = load_doc("seed_examples.json")


def _expected(mutate: Any) -> dict[str, Any]:
    doc = copy.deepcopy(SEED)
    mutate(doc)
    return doc


def _instance(doc: dict[str, Any]) -> dict[str, Any]:
    node: dict[str, Any] = doc["Study"]["Series"][SERIES]["Instances"][INSTANCE]
    return node


def test_upsert_changes_only_the_named_attribute(client: Any) -> None:
    answer = update(client, {"Patient": {"DICOM": {"PatientName": "MX^MX"}}})
    assert (answer["latestVersionId"], answer["imageSetState"], answer["imageSetWorkflowStatus"]) == (
        "2", "LOCKED", "UPDATING")
    assert metadata(client) == _expected(lambda d: d["Patient"]["DICOM"].update(PatientName="MX^MX"))
    assert metadata(client, "1") == SEED


def test_schema_version_accepted_as_string(client: Any) -> None:
    raw = b'{"SchemaVersion":"1.1","Study":{"DICOM":{"StudyDescription":"HEAD"}}}'
    client.update_image_set_metadata(datastoreId=DS, imageSetId=IS, latestVersionId="1",
                                     updateImageSetMetadataUpdates={"DICOMUpdates": {"updatableAttributes": raw}})
    assert metadata(client)["Study"]["DICOM"]["StudyDescription"] == "HEAD"


@pytest.mark.parametrize("raw", [b'{"Patient":{"DICOM":{"PatientName":"X"}}}',
                                 b'{"SchemaVersion":"2.0","Patient":{"DICOM":{"PatientName":"X"}}}',
                                 b"not json", b'["SchemaVersion"]'])
def test_malformed_payload_is_a_validation_error(client: Any, raw: bytes) -> None:
    with pytest.raises(ClientError) as err:
        client.update_image_set_metadata(
            datastoreId=DS, imageSetId=IS, latestVersionId="1",
            updateImageSetMetadataUpdates={"DICOMUpdates": {"updatableAttributes": raw}})
    assert error_code(err.value) == "ValidationException"
    assert metadata(client) == SEED


def test_remove_attribute(client: Any) -> None:
    update(client, removable={"Study": {"DICOM": {"StudyDescription": "CHEST"}}})
    assert metadata(client) == _expected(lambda d: d["Study"]["DICOM"].pop("StudyDescription"))


def test_remove_instance_and_series(client: Any) -> None:
    update(client, removable={"Study": {"Series": {SERIES: {"Instances": {INSTANCE: {}}}}}})
    assert metadata(client) == _expected(lambda d: d["Study"]["Series"][SERIES]["Instances"].pop(INSTANCE))
    update(client, removable={"Study": {"Series": {SERIES7: {}}}}, version="2")
    doc = metadata(client)
    assert SERIES7 not in doc["Study"]["Series"] and SERIES in doc["Study"]["Series"]


def test_private_tag_added_with_its_vr(client: Any) -> None:
    tree = {"Study": {"Series": {SERIES: {"Instances": {INSTANCE: {
        "DICOM": {"001910F9": "97"}, "DICOMVRs": {"001910F9": "DS"}}}}}}}
    update(client, tree, force=True)

    def mutate(d: dict[str, Any]) -> None:
        _instance(d)["DICOM"]["001910F9"] = "97"
        _instance(d)["DICOMVRs"]["001910F9"] = "DS"

    assert metadata(client) == _expected(mutate)


def test_both_members_removals_apply_before_upserts(client: Any) -> None:
    update(client,
           {"Study": {"DICOM": {"StudyDescription": "NEW"}}, "Patient": {"DICOM": {"PatientSex": "F"}}},
           {"Study": {"DICOM": {"StudyDescription": "CHEST", "StudyID": "1"}}}, force=True)
    doc = metadata(client)
    assert doc["Study"]["DICOM"]["StudyDescription"] == "NEW"
    assert "StudyID" not in doc["Study"]["DICOM"]
    assert doc["Patient"]["DICOM"]["PatientSex"] == "F"


def test_revert_creates_a_new_version_with_the_old_document(client: Any) -> None:
    update(client, {"Patient": {"DICOM": {"PatientName": "A^B"}}})
    update(client, {"Patient": {"DICOM": {"PatientName": "C^D"}}}, version="2")
    answer = client.update_image_set_metadata(datastoreId=DS, imageSetId=IS, latestVersionId="3",
                                              updateImageSetMetadataUpdates={"revertToVersionId": "1"})
    assert answer["latestVersionId"] == "4"
    assert metadata(client) == SEED


@pytest.mark.parametrize("target", ["0", "9", "x1"])
def test_revert_to_a_missing_version_is_rejected(client: Any, target: str) -> None:
    with pytest.raises(ClientError) as err:
        client.update_image_set_metadata(datastoreId=DS, imageSetId=IS, latestVersionId="1",
                                         updateImageSetMetadataUpdates={"revertToVersionId": target})
    assert error_code(err.value) == "ValidationException"


@pytest.mark.parametrize("version", ["2", "0"])
def test_stale_latest_version_is_a_conflict(client: Any, version: str) -> None:
    update(client, {"Patient": {"DICOM": {"PatientName": "A^B"}}})
    with pytest.raises(ClientError) as err:
        update(client, {"Patient": {"DICOM": {"PatientName": "C^D"}}}, version="1" if version == "2" else version)
    assert error_code(err.value) == "ConflictException"
    assert err.value.response["ResponseMetadata"]["HTTPStatusCode"] == 409
    assert metadata(client)["Patient"]["DICOM"]["PatientName"] == "A^B"


def test_write_while_locked_is_a_conflict_until_the_lock_ends(
    transport: Any, store_dir: Any, seeded: Any, clock: Any
) -> None:
    from reconciler.emulator.knobs import EmulatorConfig

    client = transport(store_dir, EmulatorConfig(lock_seconds=30), clock)
    update(client, {"Patient": {"DICOM": {"PatientName": "A^B"}}})
    state = client.get_image_set(datastoreId=DS, imageSetId=IS)
    assert (state["versionId"], state["imageSetState"], state["imageSetWorkflowStatus"]) == (
        "2", "LOCKED", "UPDATING")
    with pytest.raises(ClientError) as err:
        update(client, {"Patient": {"DICOM": {"PatientName": "C^D"}}}, version="2")
    assert error_code(err.value) == "ConflictException"
    with pytest.raises(ClientError) as err:
        client.delete_image_set(datastoreId=DS, imageSetId=IS)
    assert error_code(err.value) == "ConflictException"
    clock.advance(31)
    state = client.get_image_set(datastoreId=DS, imageSetId=IS)
    assert (state["imageSetState"], state["imageSetWorkflowStatus"]) == ("ACTIVE", "UPDATED")
    assert update(client, {"Patient": {"DICOM": {"PatientName": "C^D"}}}, version="2")["latestVersionId"] == "3"


def _sized(size: int, level: str = "Study") -> dict[str, Any]:
    """A one-attribute tree whose blob (as ``update`` encodes it) is exactly SIZE bytes."""
    tree = {level: {"DICOM": {"StudyDescription": ""}}}
    overhead = len(json.dumps({"SchemaVersion": 1.1, **tree}).encode())
    tree[level]["DICOM"]["StudyDescription"] = "x" * (size - overhead)
    return tree


@pytest.mark.parametrize("member", ["updatableAttributes", "removableAttributes"])
def test_blob_over_10000_is_a_validation_error_naming_the_member(client: Any, member: str) -> None:
    tree = _sized(10_001)
    with pytest.raises(ClientError) as err:
        update(client, **{"updatable" if member == "updatableAttributes" else "removable": tree}, force=True)
    assert error_code(err.value) == "ValidationException"
    assert err.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    message = err.value.response["Error"]["Message"]
    assert member in message and "less than or equal to 10000" in message
    assert "xxxx" not in message  # never the value
    assert metadata(client) == SEED


def test_blob_of_exactly_10000_is_accepted(client: Any) -> None:
    # force: a 10 KB LO value breaks the VR length rule, which is not what this test is about
    assert update(client, _sized(10_000), force=True)["latestVersionId"] == "2"


def test_the_limit_is_per_blob_not_summed(client: Any) -> None:
    """Two blobs of 9,000 bytes each (18,000 together) pass: the limit applies to each member."""
    removable = {"Study": {"DICOM": {"StudyDescription": "CHEST"}}}
    removable["Study"]["DICOM"]["AccessionNumber"] = "y" * 8_900  # removal values are not compared
    assert len(json.dumps({"SchemaVersion": 1.1, **removable})) > 8_900
    assert update(client, _sized(9_000), removable, force=True)["latestVersionId"] == "2"


def test_blob_limit_knob_matches_a_raised_quota(transport: Any, store_dir: Any, seeded: Any, clock: Any) -> None:
    raised = transport(store_dir, EmulatorConfig(blob_limit=20_000), clock)
    assert update(raised, _sized(15_000), force=True)["latestVersionId"] == "2"
    with pytest.raises(ClientError) as err:
        update(raised, _sized(20_001), force=True, version="2")
    assert "less than or equal to 20000" in err.value.response["Error"]["Message"]


def test_blob_over_the_model_maximum(client: Any) -> None:
    with pytest.raises(ClientError) as err:
        update(client, {"Study": {"DICOM": {"StudyDescription": "x" * 30_001}}})
    assert error_code(err.value) == "ValidationException"


def test_forced_sop_instance_uid_moves_the_instance_to_its_new_key(client: Any) -> None:
    """Seed example 7 on a non-primary image set: the instance then lives under its new UID."""
    uid = INSTANCE7[:-1] + "9"
    tree = {"Study": {"Series": {SERIES7: {"Instances": {INSTANCE7: {"DICOM": {"SOPInstanceUID": uid}}}}}}}
    update(client, tree, force=True)
    instances = metadata(client)["Study"]["Series"][SERIES7]["Instances"]
    assert INSTANCE7 not in instances
    expected = copy.deepcopy(SEED["Study"]["Series"][SERIES7]["Instances"][INSTANCE7])
    expected["DICOM"]["SOPInstanceUID"] = uid
    assert instances[uid] == expected
    assert list(instances) == [uid if k == INSTANCE7 else k for k in SEED["Study"]["Series"][SERIES7]["Instances"]]


def test_forced_series_instance_uid_moves_the_series_to_its_new_key(client: Any) -> None:
    new = SERIES7[:-1] + "7"
    update(client, {"Study": {"Series": {SERIES7: {"DICOM": {"SeriesInstanceUID": new}}}}}, force=True)
    series = metadata(client)["Study"]["Series"]
    assert SERIES7 not in series
    assert series[new]["DICOM"]["SeriesInstanceUID"] == new
    assert series[new]["Instances"] == SEED["Study"]["Series"][SERIES7]["Instances"]
    assert metadata(client, "2") == metadata(client)  # the answer's version holds the move


def test_series_and_its_instance_move_in_one_update(client: Any) -> None:
    new_series, new_instance = SERIES7[:-1] + "7", INSTANCE7[:-1] + "9"
    tree = {"Study": {"Series": {SERIES7: {"DICOM": {"SeriesInstanceUID": new_series},
                                           "Instances": {INSTANCE7: {"DICOM": {"SOPInstanceUID": new_instance}}}}}}}
    update(client, tree, force=True)
    series = metadata(client)["Study"]["Series"]
    assert set(series[new_series]["Instances"]) >= {new_instance}
    assert INSTANCE7 not in series[new_series]["Instances"]


def test_move_onto_an_existing_uid_fails_and_keeps_the_content(client: Any) -> None:
    tree = {"Study": {"Series": {SERIES7: {"DICOM": {"SeriesInstanceUID": SERIES}}}}}
    assert update(client, tree, force=True)["latestVersionId"] == "2"
    state = client.get_image_set(datastoreId=DS, imageSetId=IS)
    assert state["imageSetWorkflowStatus"] == "UPDATE_FAILED"
    assert SERIES in state["message"]
    assert metadata(client) == SEED


def test_apply_updates_leaves_the_document_it_was_given_as_it_was() -> None:
    """The new version is built copy-on-write: the current document (kept as it is by a failed update)
    never changes, whether the update succeeds, moves nodes or fails half-way."""
    from reconciler.emulator.updates import UpdateFailed, apply_updates

    doc = copy.deepcopy(SEED)
    before = json.dumps(doc)
    new_series, new_instance = SERIES7[:-1] + "7", INSTANCE7[:-1] + "9"
    updatable = {"Patient": {"DICOM": {"PatientName": "NEW^NAME"}}, "Study": {
        "DICOM": {"StudyDescription": "NEW"},
        "Series": {SERIES7: {"DICOM": {"SeriesInstanceUID": new_series},
                             "Instances": {INSTANCE7: {"DICOM": {"SOPInstanceUID": new_instance},
                                                       "DICOMVRs": {"00091001": "LO"}}}},
                   SERIES: {"Instances": {INSTANCE: {"DICOM": {"ImageComments": "x"}}}}}}}
    removable = {"Patient": {"DICOM": {"PatientID": "?"}},
                 "Study": {"Series": {SERIES: {"DICOM": {"Modality": "?"}}}}}
    new = apply_updates(doc, updatable, removable)
    assert json.dumps(doc) == before
    assert new["Patient"]["DICOM"]["PatientName"] == "NEW^NAME" and "PatientID" not in new["Patient"]["DICOM"]
    assert new_instance in new["Study"]["Series"][new_series]["Instances"]
    assert new == apply_updates(json.loads(before), updatable, removable)
    failing = {"Study": {"Series": {SERIES: {"DICOM": {"SeriesDescription": "changed first"}},
                                    "9.9.9": {"DICOM": {"SeriesDescription": "not there"}}}}}
    with pytest.raises(UpdateFailed):
        apply_updates(doc, failing, {"Study": {"Series": {SERIES7: {}}}})
    assert json.dumps(doc) == before
