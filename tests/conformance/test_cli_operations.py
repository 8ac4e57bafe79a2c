"""Every implemented operation through the real AWS CLI (v1) against `reconciler emulator serve`."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.support.harness import DATA, DATASTORE, Emulator, load_fixture, serve_in_thread

EA92 = "ea92b0d8838c72a3f25d00d13616f87e"
D53 = "53d5fdb05ca4d46ac7ca64b06545c66e"
PATIENT_NAME = json.dumps({"DICOMUpdates": {"updatableAttributes": json.dumps(
    {"SchemaVersion": 1.1, "Patient": {"DICOM": {"PatientName": "MX^MX"}}})}})
STUDY_DESCRIPTION = json.dumps({"DICOMUpdates": {"updatableAttributes": json.dumps(
    {"SchemaVersion": 1.1, "Study": {"DICOM": {"StudyDescription": "HEAD"}}})}})


@pytest.fixture
def emu(emulator: Callable[..., Emulator]) -> Emulator:
    def setup(store: Path) -> None:
        load_fixture(store, EA92)
        load_fixture(store, D53, primary=False)  # the updates below change PatientName: not on a primary

    # A long lock: an update keeps its image set LOCKED for the whole test.
    return emulator("--lock-seconds", "600", setup=setup)


def _ids(items: list[dict[str, object]], key: str) -> list[object]:
    return [item[key] for item in items]


def test_datastore_operations(emu: Emulator) -> None:
    created = emu.aws_json("create-datastore", "--datastore-name", "conformance")
    assert created["datastoreStatus"] in ("CREATING", "ACTIVE")
    assert len(created["datastoreId"]) == 32

    got = emu.aws_json("get-datastore", "--datastore-id", DATASTORE)
    assert got["datastoreProperties"]["datastoreId"] == DATASTORE

    listed = emu.aws_json("list-datastores")
    assert set(_ids(listed["datastoreSummaries"], "datastoreId")) == {DATASTORE, created["datastoreId"]}


def test_image_set_reads_and_search(emu: Emulator) -> None:
    got = emu.aws_json("get-image-set", "--datastore-id", DATASTORE, "--image-set-id", EA92)
    assert (got["versionId"], got["imageSetState"]) == ("1", "ACTIVE")
    assert (got["isPrimary"], got["storageTier"]) == (True, "FREQUENT_ACCESS")

    criteria = json.dumps({"filters": [{"operator": "EQUAL", "values": [{"DICOMPatientId": "2178309"}]}]})
    found = emu.aws_json("search-image-sets", "--datastore-id", DATASTORE, "--search-criteria", criteria)
    (summary,) = found["imageSetsMetadataSummaries"]
    assert (summary["imageSetId"], summary["version"]) == (EA92, 1)


def test_update_lock_conflicts_and_paginated_versions(emu: Emulator) -> None:
    base = ["--datastore-id", DATASTORE, "--image-set-id", D53]
    first = emu.aws_json("update-image-set-metadata", *base, "--latest-version-id", "1",
                         "--update-image-set-metadata-updates", PATIENT_NAME)
    assert (first["latestVersionId"], first["imageSetState"]) == ("2", "LOCKED")

    locked = emu.aws_json("get-image-set", *base)
    assert (locked["imageSetState"], locked["imageSetWorkflowStatus"]) == ("LOCKED", "UPDATING")

    again = emu.aws("update-image-set-metadata", *base, "--latest-version-id", "2",
                    "--update-image-set-metadata-updates", PATIENT_NAME)
    assert again.returncode != 0
    assert "(ConflictException)" in again.stderr

    stale = emu.aws("update-image-set-metadata", "--datastore-id", DATASTORE, "--image-set-id", EA92,
                    "--latest-version-id", "7", "--update-image-set-metadata-updates", STUDY_DESCRIPTION)
    assert stale.returncode != 0
    assert "(ConflictException)" in stale.stderr

    # --page-size 1: the CLI follows nextToken itself, one version per page, newest first.
    versions = emu.aws_json("list-image-set-versions", *base, "--page-size", "1")
    assert _ids(versions["imageSetPropertiesList"], "versionId") == ["2", "1"]
    one = emu.aws_json("list-image-set-versions", *base, "--max-items", "1")
    assert _ids(one["imageSetPropertiesList"], "versionId") == ["2"]
    assert one["NextToken"]


def test_delete_image_set(emu: Emulator) -> None:
    base = ["--datastore-id", DATASTORE, "--image-set-id", EA92]
    deleted = emu.aws_json("delete-image-set", *base)
    assert (deleted["imageSetId"], deleted["imageSetState"]) == (EA92, "LOCKED")
    assert deleted["imageSetWorkflowStatus"] == "DELETING"
    # asynchronous, with this emulator's 600 s lock: DELETING for the whole test, and a second delete conflicts
    got = emu.aws_json("get-image-set", *base)
    assert (got["imageSetState"], got["imageSetWorkflowStatus"]) == ("LOCKED", "DELETING")
    again = emu.aws("delete-image-set", *base)
    assert again.returncode != 0
    assert "(ConflictException)" in again.stderr


def _copy_information(version: str, *, subset: dict[str, list[str]] | None = None,
                      destination: tuple[str, str] | None = None) -> str:
    """--copy-image-set-information as the CLI takes it (copiableAttributes is a string, not a blob)."""
    source: dict[str, object] = {"latestVersionId": version}
    if subset is not None:
        series = {s: {"Instances": {i: {} for i in instances}} for s, instances in subset.items()}
        source["DICOMCopies"] = {"copiableAttributes": json.dumps({"SchemaVersion": "1.1",
                                                                   "Study": {"Series": series}})}
    info: dict[str, object] = {"sourceImageSet": source}
    if destination is not None:
        info["destinationImageSet"] = {"imageSetId": destination[0], "latestVersionId": destination[1]}
    return json.dumps(info)


def test_copy_image_set_then_promote_after_the_primary_is_deleted(emulator: Callable[..., Emulator],
                                                                   tmp_path: Path) -> None:
    """The documented way to change what a primary image set refuses: copy, delete the primary, promote."""
    emu = emulator(setup=lambda store: (load_fixture(store, EA92), load_fixture(store, D53, primary=False)))
    ds = ["--datastore-id", DATASTORE]
    copied = emu.aws_json("copy-image-set", *ds, "--source-image-set-id", EA92,
                          "--copy-image-set-information", _copy_information("1"))
    source, dest = copied["sourceImageSetProperties"], copied["destinationImageSetProperties"]
    assert (source["imageSetId"], source["imageSetWorkflowStatus"]) == (EA92, "COPYING_WITH_READ_ONLY_ACCESS")
    assert (dest["latestVersionId"], dest["imageSetState"], dest["imageSetWorkflowStatus"]) == (
        "1", "LOCKED", "COPYING")
    copy_id = dest["imageSetId"]
    got = emu.aws_json("get-image-set", *ds, "--image-set-id", copy_id)
    assert (got["imageSetWorkflowStatus"], got["isPrimary"]) == ("COPIED", False)

    promote = ["copy-image-set", *ds, "--source-image-set-id", copy_id, "--promote-to-primary",
               "--copy-image-set-information", _copy_information("1")]
    refused = emu.aws(*promote)
    assert refused.returncode != 0
    assert "(ConflictException)" in refused.stderr and EA92 in refused.stderr

    emu.aws_json("delete-image-set", *ds, "--image-set-id", EA92)
    promoted = emu.aws_json(*promote)["destinationImageSetProperties"]["imageSetId"]
    assert promoted not in (EA92, copy_id)
    got = emu.aws_json("get-image-set", *ds, "--image-set-id", promoted)
    assert (got["imageSetWorkflowStatus"], got["isPrimary"], got["versionId"]) == ("COPIED", True, "1")
    original = json.loads((DATA / f"imageset_{EA92}.json").read_text())
    assert emu.metadata(promoted, tmp_path)["Study"] == original["Study"]
    # what the service keeps of the deleted primary (`reconciler history` reads it): GetImageSet still
    # answers, DELETED with deletedAt, while its versions are no longer listed
    gone = emu.aws_json("get-image-set", *ds, "--image-set-id", EA92)
    assert (gone["imageSetState"], gone["imageSetWorkflowStatus"]) == ("DELETED", "DELETED")
    assert gone["deletedAt"]
    listed = emu.aws("list-image-set-versions", *ds, "--image-set-id", EA92)
    assert listed.returncode != 0 and "(ResourceNotFoundException)" in listed.stderr


def test_copy_a_subset_into_a_destination_with_force(emu: Emulator, tmp_path: Path) -> None:
    series = "1.1.1.1.1.1.12345.123456789012.123.12345678901234.1"
    instance = "1.1.1.1.1.1.12345.123456789012.123.12345678901234.2"
    info = _copy_information("1", subset={series: [instance]}, destination=(D53, "1"))
    base = ["copy-image-set", "--datastore-id", DATASTORE, "--source-image-set-id", EA92,
            "--copy-image-set-information", info]
    copied = emu.aws_json(*base, "--force")["destinationImageSetProperties"]
    assert (copied["imageSetId"], copied["latestVersionId"]) == (D53, "2")
    doc = emu.metadata(D53, tmp_path, "2")
    assert instance in doc["Study"]["Series"][series]["Instances"]
    assert doc["Patient"]["DICOM"]["PatientName"] == "ROE^RICHARD"  # forced: the destination's Patient stays
    again = emu.aws(*base)  # D53 is at version 2 now, and LOCKED by the copy (this emulator locks for 600 s)
    assert again.returncode != 0
    assert "(ConflictException)" in again.stderr


def test_documented_quotas_throttle_a_second_copy(tmp_path: Path) -> None:
    """`serve --documented-quotas` holds CopyImageSet to 0.25/s with a burst of 1: a copy right after
    another is throttled. The server's rate clock is stopped, so "right after" holds however long the
    second AWS CLI launch takes; moved 4 s on, the bucket has refilled and a copy goes through again."""
    store = tmp_path / "store"
    load_fixture(store, D53, primary=False)
    now = [0.0]
    with serve_in_thread(store, "--documented-quotas", rate_clock=lambda: now[0]) as emu:
        argv = ["copy-image-set", "--datastore-id", DATASTORE, "--source-image-set-id", D53,
                "--copy-image-set-information", _copy_information("1")]
        emu.aws_json(*argv)
        throttled = emu.aws(*argv)
        assert throttled.returncode != 0
        assert "(ThrottlingException)" in throttled.stderr
        now[0] += 4.0
        assert emu.aws_json(*argv)["destinationImageSetProperties"]["imageSetId"] != D53
