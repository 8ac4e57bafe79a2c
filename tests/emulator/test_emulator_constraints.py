"""The documented DICOM constraints: what needs force, what is forbidden, what fails asynchronously."""

from __future__ import annotations

from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.support.emuhelpers import DS, INSTANCE, IS, SERIES, error_code, load_doc, metadata, update

SEED = load_doc("seed_examples.json")


def _inst(dicom: dict[str, Any]) -> dict[str, Any]:
    return {"Study": {"Series": {SERIES: {"Instances": {INSTANCE: {"DICOM": dicom}}}}}}


def _series(dicom: dict[str, Any]) -> dict[str, Any]:
    return {"Study": {"Series": {SERIES: {"DICOM": dicom}}}}


NEEDS_FORCE = {
    "study-uid": ({"Study": {"DICOM": {"StudyInstanceUID": "1.2.3"}}}, None),
    "study-id": ({"Study": {"DICOM": {"StudyID": "7"}}}, None),
    "sop-uid": (_inst({"SOPInstanceUID": "1.2.3.4"}), None),
    "private-update": (_inst({"00091001": "GE_GENESIS_DD"}), None),
    "private-remove": (None, _inst({"00091001": "GE_GENESIS_FF"})),
    "sequence": ({"Patient": {"DICOM": {"DeidentificationMethodCodeSequence": [{"CodeValue": "1"}]}}}, None),
    "multi-valued": (_series({"SoftwareVersions": ["1", "2"]}), None),
    "vr-incompatible": (_inst({"HighBit": "fifteen"}), None),
    "non-standard": (_inst({"NotADicomKeyword": "x"}), None),
}


@pytest.mark.parametrize("case", sorted(NEEDS_FORCE))
def test_needs_force_is_refused_without_it(client: Any, case: str) -> None:
    updatable, removable = NEEDS_FORCE[case]
    with pytest.raises(ClientError) as err:
        update(client, updatable, removable)
    assert error_code(err.value) == "ValidationException"
    assert client.get_image_set(datastoreId=DS, imageSetId=IS)["versionId"] == "1"


@pytest.mark.parametrize("case", sorted(NEEDS_FORCE))
def test_needs_force_is_applied_with_it_and_marked(client: Any, case: str) -> None:
    updatable, removable = NEEDS_FORCE[case]
    update(client, updatable, removable, force=True)
    state = client.get_image_set(datastoreId=DS, imageSetId=IS)
    assert (state["versionId"], state["imageSetWorkflowStatus"], state["overrides"]) == (
        "2", "UPDATED", {"forced": True})
    assert metadata(client) != SEED


def test_unforced_version_has_no_override(client: Any) -> None:
    update(client, {"Patient": {"DICOM": {"PatientName": "A^B"}}})
    assert "overrides" not in client.get_image_set(datastoreId=DS, imageSetId=IS)


FORBIDDEN = {
    "image-frames": {"Study": {"Series": {SERIES: {"Instances": {INSTANCE: {"ImageFrames": []}}}}}},
    "pixel-data": _inst({"PixelData": "AAE="}),
    "datastore-id": {"DatastoreID": "0" * 32},
    "patient-attr-at-study": {"Study": {"DICOM": {"PatientName": "A^B"}}},
    "series-attr-at-patient": {"Patient": {"DICOM": {"Modality": "MR"}}},
    "instance-attr-at-series": _series({"SOPClassUID": "1.2.3"}),
}


@pytest.mark.parametrize("force", [False, True])
@pytest.mark.parametrize("case", sorted(FORBIDDEN))
def test_forbidden_even_with_force(client: Any, case: str, force: bool) -> None:
    with pytest.raises(ClientError) as err:
        update(client, FORBIDDEN[case], force=force)
    assert error_code(err.value) == "ValidationException"
    assert "A^B" not in str(err.value) and "MR" not in str(err.value)  # messages name paths, not values
    assert client.get_image_set(datastoreId=DS, imageSetId=IS)["versionId"] == "1"


MISSING_NODE = {
    "series": ({"Study": {"Series": {"9.9.9": {"DICOM": {"Modality": "MR"}}}}}, None),
    "instance": ({"Study": {"Series": {SERIES: {"Instances": {"9.9.9": {"DICOM": {"HighBit": 7}}}}}}}, None),
    "removed-instance": (None, {"Study": {"Series": {SERIES: {"Instances": {"9.9.9": {}}}}}}),
    "removed-series": (None, {"Study": {"Series": {"9.9.9": {}}}}),
}


@pytest.mark.parametrize("case", sorted(MISSING_NODE))
def test_missing_series_or_instance_ends_update_failed(client: Any, case: str) -> None:
    updatable, removable = MISSING_NODE[case]
    answer = update(client, updatable, removable)
    assert (answer["latestVersionId"], answer["imageSetState"]) == ("2", "LOCKED")
    state = client.get_image_set(datastoreId=DS, imageSetId=IS)
    assert (state["imageSetState"], state["imageSetWorkflowStatus"]) == ("ACTIVE", "UPDATE_FAILED")
    assert "9.9.9" in state["message"] and "INVALID_REQUEST" in state["message"]
    assert metadata(client, "2") == metadata(client, "1")
