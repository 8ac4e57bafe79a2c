"""CopyImageSet: into a new image set or an existing one, subsets, consistency and ``force``, the
asynchronous LOCKED -> COPIED / COPY_FAILED lifecycle of both image sets (both transports, real boto3,
fake clock)."""

from __future__ import annotations

import copy as copying
from typing import Any

import pytest
from botocore.exceptions import ClientError

from reconciler.emulator.knobs import EmulatorConfig
from reconciler.emulator.store import Store
from tests.support.emuhelpers import DS, IS, SERIES, SERIES7, copy, error_code, load_doc, metadata, state, update

LOCK = 30.0
DEST = "d" * 32
SEED = load_doc("seed_examples.json")
S1_EXTRA = "1.1.1.1.1.1.12345.123456789012.123.12345678901234.1.2"  # a second instance of SERIES


def _source() -> dict[str, Any]:
    """The seed document with a second instance in SERIES: three instances in two series."""
    doc = copying.deepcopy(SEED)
    instances = doc["Study"]["Series"][SERIES]["Instances"]
    (first,) = instances.values()
    extra = copying.deepcopy(first)
    extra["DICOM"]["SOPInstanceUID"] = S1_EXTRA
    instances[S1_EXTRA] = extra
    return doc


def _instances(doc: dict[str, Any]) -> dict[str, set[str]]:
    return {s: set(series.get("Instances", {})) for s, series in doc["Study"]["Series"].items()}


@pytest.fixture
def source_store(store: Store, clock: Any) -> Store:
    """IS: a non-primary image set of three instances (a copy of it may be promoted)."""
    store.ensure_datastore(DS, now=clock())
    store.put_image_set(DS, IS, _source(), is_primary=False, now=clock())
    return store


@pytest.fixture
def plain(transport: Any, store_dir: Any, source_store: Store, clock: Any) -> Any:
    """A client on the store, no lock time."""
    return transport(store_dir, None, clock)


@pytest.fixture
def locking(transport: Any, store_dir: Any, source_store: Store, clock: Any) -> Any:
    """A client on the store, every copy, update and deletion LOCKED for 30 s."""
    return transport(store_dir, EmulatorConfig(lock_seconds=LOCK), clock)


def test_copy_answers_with_the_model_shape_and_both_image_sets_locked(locking: Any, clock: Any) -> None:
    answer = copy(locking)
    assert answer["datastoreId"] == DS
    src, dst = answer["sourceImageSetProperties"], answer["destinationImageSetProperties"]
    assert (src["imageSetId"], src["latestVersionId"], src["imageSetState"], src["imageSetWorkflowStatus"]) == (
        IS, "1", "LOCKED", "COPYING_WITH_READ_ONLY_ACCESS")
    new = dst["imageSetId"]
    assert len(new) == 32 and new != IS
    assert (dst["latestVersionId"], dst["imageSetState"], dst["imageSetWorkflowStatus"]) == ("1", "LOCKED", "COPYING")
    assert dst["imageSetArn"].endswith(f"datastore/{DS}/imageset/{new}")
    assert dst["createdAt"].timestamp() == dst["updatedAt"].timestamp() == src["updatedAt"].timestamp() == clock()

    # while copying: both LOCKED, the source readable but not writable, the destination not writable
    assert state(locking) == ("1", "LOCKED", "COPYING_WITH_READ_ONLY_ACCESS")
    assert state(locking, new) == ("1", "LOCKED", "COPYING")
    assert metadata(locking)["ImageSetID"] == IS
    for write in (lambda: update(locking, {"Study": {"DICOM": {"StudyDescription": "X"}}}),
                  lambda: update(locking, {"Study": {"DICOM": {"StudyDescription": "X"}}}, image_set_id=new),
                  lambda: copy(locking), lambda: locking.delete_image_set(datastoreId=DS, imageSetId=new)):
        with pytest.raises(ClientError) as err:
            write()
        assert error_code(err.value) == "ConflictException"

    clock.advance(LOCK)
    assert state(locking) == ("1", "ACTIVE", "COPIED")  # the source keeps its version, now COPIED
    assert state(locking, new) == ("1", "ACTIVE", "COPIED")
    got = locking.get_image_set(datastoreId=DS, imageSetId=new)
    assert got["isPrimary"] is False and "overrides" not in got
    assert metadata(locking, image_set_id=new) == {**_source(), "DatastoreID": DS, "ImageSetID": new}
    assert metadata(locking) == {**_source(), "DatastoreID": DS, "ImageSetID": IS}
    versions = locking.list_image_set_versions(datastoreId=DS, imageSetId=IS)["imageSetPropertiesList"]
    assert [(v["versionId"], v["ImageSetWorkflowStatus"]) for v in versions] == [("1", "COPIED")]


def test_copiable_attributes_copy_a_subset_of_instances(client: Any, seeded: Store) -> None:
    seeded.put_image_set(DS, DEST, _source(), is_primary=False)  # three instances, as the source below
    new = copy(client, DEST, subset={SERIES: [S1_EXTRA], SERIES7: []})["destinationImageSetProperties"]
    doc = metadata(client, image_set_id=new["imageSetId"])
    assert _instances(doc) == {SERIES: {S1_EXTRA}, SERIES7: set(_source()["Study"]["Series"][SERIES7]["Instances"])}
    assert doc["Study"]["Series"][SERIES]["DICOM"] == SEED["Study"]["Series"][SERIES]["DICOM"]
    assert doc["Patient"] == SEED["Patient"]


@pytest.mark.parametrize(("subset", "named"), [
    ({"1.2.3": []}, "Series 1.2.3 is not present"),
    ({SERIES: ["1.2.3.4"]}, "SOP Instance 1.2.3.4 is not present"),
])
def test_a_subset_the_source_does_not_hold_ends_copy_failed(
    client: Any, subset: dict[str, list[str]], named: str
) -> None:
    new = copy(client, subset=subset)["destinationImageSetProperties"]["imageSetId"]  # accepted: 200
    got = client.get_image_set(datastoreId=DS, imageSetId=new)
    assert (got["imageSetState"], got["imageSetWorkflowStatus"]) == ("ACTIVE", "COPY_FAILED")
    assert got["message"].startswith("INVALID_REQUEST: ") and named in got["message"]
    assert _instances(metadata(client, image_set_id=new)) == {}
    assert state(client) == ("1", "ACTIVE", "CREATED")  # a failed copy leaves the source as it was


def _destination(store: Store, clock: Any, **changes: Any) -> dict[str, Any]:
    """DEST: the seed's first series only, with CHANGES applied to its levels; returns the document."""
    doc = copying.deepcopy(SEED)
    del doc["Study"]["Series"][SERIES7]
    for level, values in changes.items():
        node = doc["Study"]["Series"][SERIES] if level == "Series" else doc[level]
        node["DICOM"].update(values)
    store.put_image_set(DS, DEST, doc, is_primary=False, now=clock())
    return doc


def test_copy_into_an_existing_image_set_merges_as_a_new_version(locking: Any, source_store: Store,
                                                                  clock: Any) -> None:
    before = _destination(source_store, clock, Patient={"PatientName": "MISTER^CT  "})  # padding only
    answer = copy(locking, destination=(DEST, "1"))
    dst = answer["destinationImageSetProperties"]
    assert (dst["imageSetId"], dst["latestVersionId"], dst["imageSetWorkflowStatus"]) == (DEST, "2", "COPYING")
    assert state(locking, DEST) == ("2", "LOCKED", "COPYING")
    clock.advance(LOCK)
    assert state(locking, DEST) == ("2", "ACTIVE", "COPIED")
    merged = metadata(locking, image_set_id=DEST)
    assert _instances(merged) == _instances(_source())
    assert merged["Patient"] == before["Patient"]
    assert merged["Study"]["Series"][SERIES7] == _source()["Study"]["Series"][SERIES7]  # a new series, whole
    assert metadata(locking, "1", image_set_id=DEST) == {**before, "DatastoreID": DS, "ImageSetID": DEST}


@pytest.mark.parametrize(("level", "change"), [
    ("Patient", {"PatientName": "OTHER^NAME"}),
    ("Study", {"StudyDescription": "HEAD"}),
    ("Series", {"Modality": "MR"}),
])
def test_inconsistent_levels_end_copy_failed_unless_forced(plain: Any, source_store: Store, clock: Any,
                                                            level: str, change: dict[str, str]) -> None:
    client = plain
    before = _destination(source_store, clock, **{level: change})
    copy(client, destination=(DEST, "1"))
    failed = client.get_image_set(datastoreId=DS, imageSetId=DEST)
    assert (failed["versionId"], failed["imageSetWorkflowStatus"]) == ("2", "COPY_FAILED")
    assert failed["message"].startswith(f"INVALID_REQUEST: {level}")
    assert "of SourceImageSet and DestinationImageSet don't match." in failed["message"]
    assert not any(value in failed["message"] for value in (*change.values(), "MISTER", "CHEST", "CT"))
    assert metadata(client, image_set_id=DEST) == {**before, "DatastoreID": DS, "ImageSetID": DEST}

    # force: "the Patient, Study, and Series metadata remains unchanged in the destinationImageSet"
    copy(client, destination=(DEST, "2"), force=True)
    forced = client.get_image_set(datastoreId=DS, imageSetId=DEST)
    assert (forced["versionId"], forced["imageSetWorkflowStatus"], forced["overrides"]) == (
        "3", "COPIED", {"forced": True})
    merged = metadata(client, image_set_id=DEST)
    assert _instances(merged) == _instances(_source())
    assert merged["Patient"] == before["Patient"] and merged["Study"]["DICOM"] == before["Study"]["DICOM"]
    assert merged["Study"]["Series"][SERIES]["DICOM"] == before["Study"]["Series"][SERIES]["DICOM"]


def test_an_instance_in_another_series_of_the_destination_fails_the_copy(plain: Any, source_store: Store,
                                                                         clock: Any) -> None:
    client = plain
    doc = copying.deepcopy(SEED)
    moved = doc["Study"]["Series"][SERIES]["Instances"].pop(next(iter(doc["Study"]["Series"][SERIES]["Instances"])))
    doc["Study"]["Series"][SERIES7]["Instances"]["1.1.1.1.1.1.12345.123456789012.123.12345678901234.1"] = moved
    del doc["Study"]["Series"][SERIES]
    source_store.put_image_set(DS, DEST, doc, is_primary=False, now=clock())
    copy(client, destination=(DEST, "1"), subset={SERIES: []}, force=True)
    failed = client.get_image_set(datastoreId=DS, imageSetId=DEST)
    assert failed["imageSetWorkflowStatus"] == "COPY_FAILED"
    assert "SOP Instance UIDs must be unique" in failed["message"]


def test_injected_copy_failed_fault(transport: Any, store_dir: Any, source_store: Store, clock: Any) -> None:
    client = transport(store_dir, EmulatorConfig(faults={"CopyImageSet": [("copy_failed", 1.0)]}), clock)
    new = copy(client)["destinationImageSetProperties"]["imageSetId"]
    got = client.get_image_set(datastoreId=DS, imageSetId=new)
    assert (got["imageSetWorkflowStatus"], got["message"]) == ("COPY_FAILED",
                                                                "INTERNAL_FAILURE: injected copy_failed fault")
    assert update(client, {"Study": {"DICOM": {"StudyDescription": "X"}}})["latestVersionId"] == "2"  # not update


def test_a_copy_moves_an_archived_source_to_frequent_access(transport: Any, store_dir: Any,
                                                             source_store: Store, clock: Any) -> None:
    client = transport(store_dir, EmulatorConfig(archive_after=100), clock)
    clock.advance(200)
    assert client.get_image_set(datastoreId=DS, imageSetId=IS)["storageTier"] == "ARCHIVE_INSTANT_ACCESS"
    new = copy(client)["destinationImageSetProperties"]["imageSetId"]
    for image_set in (IS, new):
        got = client.get_image_set(datastoreId=DS, imageSetId=image_set)
        assert (got["storageTier"], got["lastAccessedAt"].timestamp()) == ("FREQUENT_ACCESS", clock())
