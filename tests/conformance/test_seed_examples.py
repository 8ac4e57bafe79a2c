"""The seed examples (tests/conformance/data/*_metadata-updates.json) run with the real AWS CLI against
`reconciler emulator serve`.

Each example starts from a fresh store holding the fixture image set (tests/conformance/data/) with the
seed's datastore and image set IDs, runs the seed's command (without --cli-binary-format, which awscli
v1 does not have), checks the answer the seed shows, and reads the metadata back with
get-image-set-metadata: the intended change is there and nothing else changed.

The examples that change PatientName or force a new SOPInstanceUID run on a non-primary image set: the
update page refuses both on a primary one
(https://docs.aws.amazon.com/healthimaging/latest/devguide/update-image-set-metadata.html), which
``test_patient_name_on_a_primary_is_refused`` shows with the same payload.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.config import Config

from tests.support.harness import DATASTORE, Emulator, load_fixture

EA92 = "ea92b0d8838c72a3f25d00d13616f87e"
D53 = "53d5fdb05ca4d46ac7ca64b06545c66e"
S1 = I1 = "1.1.1.1.1.1.12345.123456789012.123.12345678901234.1"
S2 = "1.3.6.1.4.1.5962.99.1.3633258862.2104868982.1369432891697.3656.0"
I2 = "1.3.6.1.4.1.5962.99.1.3633258862.2104868982.1369432891697.3659.0"
I2_NEW = "1.3.6.1.4.1.5962.99.1.3633258862.2104868982.1369432891697.3659.9"

Doc = dict[str, Any]


def _boto(url: str) -> Any:
    return boto3.client("medical-imaging", region_name="us-east-1", endpoint_url=url,
                        aws_access_key_id="test", aws_secret_access_key="test",
                        config=Config(inject_host_prefix=False))


def _bump(url: str, image_set_id: str, times: int) -> None:
    """Create versions 2..times+1 with harmless updates (setup only, through boto3)."""
    client = _boto(url)
    for n in range(times):
        payload = json.dumps({"SchemaVersion": "1.1", "Study": {"DICOM": {"StudyDescription": f"STEP {n}"}}})
        client.update_image_set_metadata(
            datastoreId=DATASTORE, imageSetId=image_set_id, latestVersionId=str(n + 1),
            updateImageSetMetadataUpdates={"DICOMUpdates": {"updatableAttributes": payload.encode()}})


def _set_patient_name(doc: Doc) -> None:
    doc["Patient"]["DICOM"]["PatientName"] = "MX^MX"


def _drop_study_description(doc: Doc) -> None:
    del doc["Study"]["DICOM"]["StudyDescription"]


def _drop_instance(doc: Doc) -> None:
    del doc["Study"]["Series"][S1]["Instances"][I1]


def _unchanged(doc: Doc) -> None:
    """Revert: the document is version 1's again."""


def _add_private(doc: Doc) -> None:
    instance = doc["Study"]["Series"][S1]["Instances"][I1]
    instance["DICOM"]["001910F9"] = "97"
    instance["DICOMVRs"]["001910F9"] = "DS"


def _update_private(doc: Doc) -> None:
    doc["Study"]["Series"][S1]["Instances"][I1]["DICOM"]["00091001"] = "GE_GENESIS_DD"


def _new_sop_uid(doc: Doc) -> None:
    """The instance gets the new UID and then lives under it (the map is keyed by SOPInstanceUID)."""
    instances = doc["Study"]["Series"][S2]["Instances"]
    instances[I2]["DICOM"]["SOPInstanceUID"] = I2_NEW
    doc["Study"]["Series"][S2]["Instances"] = {(I2_NEW if k == I2 else k): v for k, v in instances.items()}


@dataclass(frozen=True)
class Example:
    name: str
    image_set_id: str
    latest_version: str
    updates: str  # the --update-image-set-metadata-updates argument, as in the seed
    expected_version: str  # latestVersionId of the seed's output
    effect: Callable[[Doc], None]
    force: bool = False
    prior_updates: int = 0  # versions to create first, so that --latest-version-id is current
    primary: bool = True  # False: loaded with `emulator load --non-primary`


EXAMPLES = [
    # The man page shows latestVersionId "5" for --latest-version-id 1, which no service can answer (the
    # new version is the guard + 1; Example 1 below runs the same payload at version 1 and gets "2").
    # Here the image set is first brought to version 4, so the seed's payload and output both hold.
    Example("manpage", EA92, "4", "file://manpage_metadata-updates.json", "5", _set_patient_name,
            prior_updates=3, primary=False),
    Example("example1", EA92, "1", "file://example1_metadata-updates.json", "2", _set_patient_name,
            primary=False),
    Example("example2", EA92, "1", "file://example2_metadata-updates.json", "2", _drop_study_description),
    Example("example3", EA92, "1", "file://example3_metadata-updates.json", "2", _drop_instance),
    Example("example4", D53, "3", '{"revertToVersionId": "1"}', "4", _unchanged, prior_updates=2),
    # force is for non-primary image sets (update page; reconciler.dicom.primary): the forced examples run on one
    Example("example5", D53, "1", "file://example5_metadata-updates.json", "2", _add_private, force=True,
            primary=False),
    Example("example6", D53, "1", "file://example6_metadata-updates.json", "2", _update_private, force=True,
            primary=False),
    Example("example7", D53, "1", "file://example7_metadata-updates.json", "2", _new_sop_uid, force=True,
            primary=False),
]


@pytest.mark.parametrize("ex", EXAMPLES, ids=[e.name for e in EXAMPLES])
def test_seed_example(emulator: Callable[..., Emulator], tmp_path: Path, ex: Example) -> None:
    fixture: Doc = {}

    def setup(store: Path) -> None:
        fixture.update(load_fixture(store, ex.image_set_id, primary=ex.primary))

    emu = emulator(setup=setup)
    _bump(emu.url, ex.image_set_id, ex.prior_updates)
    before = emu.metadata(ex.image_set_id, tmp_path, version="1")

    answer = emu.aws_json(
        "update-image-set-metadata",
        "--datastore-id", DATASTORE,
        "--image-set-id", ex.image_set_id,
        "--latest-version-id", ex.latest_version,
        *(["--force"] if ex.force else []),
        "--update-image-set-metadata-updates", ex.updates,
    )

    assert {k: answer[k] for k in ("datastoreId", "imageSetId", "latestVersionId", "imageSetState",
                                   "imageSetWorkflowStatus")} == {
        "datastoreId": DATASTORE, "imageSetId": ex.image_set_id, "latestVersionId": ex.expected_version,
        "imageSetState": "LOCKED", "imageSetWorkflowStatus": "UPDATING"}
    assert isinstance(answer["createdAt"], float | int) and isinstance(answer["updatedAt"], float | int)

    expected = copy.deepcopy({**fixture, "DatastoreID": DATASTORE, "ImageSetID": ex.image_set_id})
    assert before == expected  # version 1 is the fixture, as loaded
    ex.effect(expected)
    if ex.prior_updates and ex.name != "example4":
        expected["Study"]["DICOM"]["StudyDescription"] = f"STEP {ex.prior_updates - 1}"
    after = emu.metadata(ex.image_set_id, tmp_path)
    assert after == expected
    assert json.dumps(after) == json.dumps(expected)  # the same order too: a moved instance keeps its place


@pytest.mark.parametrize(("updates", "force", "named"), [
    ("file://example1_metadata-updates.json", False, "Patient-level"),
    ("file://example7_metadata-updates.json", True, "SOPInstanceUID"),
], ids=["patient-name", "forced-sop-uid"])
def test_seed_payload_on_a_primary_is_refused(emulator: Callable[..., Emulator], tmp_path: Path,
                                              updates: str, force: bool, named: str) -> None:
    image_set_id = EA92 if "example1" in updates else D53
    emu = emulator(setup=lambda store: load_fixture(store, image_set_id))
    refused = emu.aws("update-image-set-metadata", "--datastore-id", DATASTORE, "--image-set-id", image_set_id,
                      "--latest-version-id", "1", *(["--force"] if force else []),
                      "--update-image-set-metadata-updates", updates)
    assert refused.returncode != 0
    assert "(ValidationException)" in refused.stderr and named in refused.stderr
    assert "MX^MX" not in refused.stderr and I2_NEW[-6:] + '"' not in refused.stderr
    got = emu.aws_json("get-image-set", "--datastore-id", DATASTORE, "--image-set-id", image_set_id)
    assert (got["versionId"], got["isPrimary"]) == ("1", True)
