"""Every implemented operation once through the real AWS CLI against `reconciler emulator serve`."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.conformance.harness import DATASTORE, Emulator, load_fixture

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
    gone = emu.aws("get-image-set-metadata", *base, "/dev/null")
    assert gone.returncode != 0
    assert "(ResourceNotFoundException)" in gone.stderr
