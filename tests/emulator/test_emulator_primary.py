"""Primary image sets: the update rules of the update-image-set-metadata page, the knob that lifts them,
and ``isPrimary`` in every answer and as a search filter (both transports, real boto3 client)."""

from __future__ import annotations

from typing import Any

import pytest
from botocore.exceptions import ClientError

from reconciler.emulator.knobs import EmulatorConfig
from reconciler.emulator.store import Store
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
    seed_primary_and_copy,
    update,
)

OTHER = "b" * 32
SEED = load_doc("seed_examples.json")


@pytest.fixture
def primary_store(store: Store, clock: Any) -> Store:
    """IS as a primary image set (what an import creates), OTHER as a non-primary one (same document)."""
    return seed_primary_and_copy(store, clock(), OTHER)


@pytest.fixture
def primary(transport: Any, store_dir: Any, primary_store: Store, clock: Any) -> Any:
    return transport(store_dir, None, clock)


REFUSED = {
    "patient-upsert": ({"Patient": {"DICOM": {"PatientName": "MX^MX"}}}, None, False, "Patient-level"),
    "patient-removal": (None, {"Patient": {"DICOM": {"PatientSex": "O"}}}, False, "Patient-level"),
    "series-upsert": ({"Study": {"Series": {SERIES: {"DICOM": {"Modality": "MR"}}}}}, None, False, "Series-level"),
    "series-removal": (None, {"Study": {"Series": {SERIES: {"DICOM": {"PatientPosition": "FFS"}}}}}, False,
                       "Series-level"),
    "forced-study-uid": ({"Study": {"DICOM": {"StudyInstanceUID": "1.2.3.4"}}}, None, True, "StudyInstanceUID"),
    "forced-series-uid": ({"Study": {"Series": {SERIES7: {"DICOM": {"SeriesInstanceUID": "1.2.3.5"}}}}}, None, True,
                          "SeriesInstanceUID"),
    "forced-sop-uid": ({"Study": {"Series": {SERIES7: {"Instances": {INSTANCE7: {"DICOM": {
        "SOPInstanceUID": "1.2.3.6"}}}}}}}, None, True, "SOPInstanceUID"),
}


@pytest.mark.parametrize("case", sorted(REFUSED))
def test_primary_refuses_patient_and_series_levels_and_forced_uids(primary: Any, case: str) -> None:
    updatable, removable, force, named = REFUSED[case]
    with pytest.raises(ClientError) as err:
        update(primary, updatable, removable, force=force)
    assert error_code(err.value) == "ValidationException"
    assert err.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    message = err.value.response["Error"]["Message"]
    assert named in message and "primary" in message
    for value in ("MX^MX", "MR", "1.2.3.", "FFS", "O)"):
        assert value not in message  # names the level or attribute, never a value
    state = primary.get_image_set(datastoreId=DS, imageSetId=IS)
    assert (state["versionId"], state["imageSetWorkflowStatus"]) == ("1", "CREATED")
    assert metadata(primary) == {**SEED, "DatastoreID": DS, "ImageSetID": IS}


@pytest.mark.parametrize("case", sorted(REFUSED))
def test_the_same_updates_apply_on_a_non_primary(primary: Any, case: str) -> None:
    updatable, removable, force, _named = REFUSED[case]
    assert update(primary, updatable, removable, force=force, image_set_id=OTHER)["latestVersionId"] == "2"
    state = primary.get_image_set(datastoreId=DS, imageSetId=OTHER)
    assert (state["imageSetWorkflowStatus"], state["isPrimary"]) == ("UPDATED", False)
    assert metadata(primary, image_set_id=OTHER) != metadata(primary, "1", image_set_id=OTHER)


@pytest.mark.parametrize("case", sorted(REFUSED))
def test_lenient_primary_knob_lifts_the_rules(transport: Any, store_dir: Any, primary_store: Store, clock: Any,
                                              case: str) -> None:
    lenient = transport(store_dir, EmulatorConfig(lenient_primary=True), clock)
    updatable, removable, force, _named = REFUSED[case]
    assert update(lenient, updatable, removable, force=force)["latestVersionId"] == "2"
    assert lenient.get_image_set(datastoreId=DS, imageSetId=IS)["imageSetWorkflowStatus"] == "UPDATED"


@pytest.mark.parametrize(("updatable", "removable", "force"), [
    ({"Study": {"DICOM": {"StudyDescription": "HEAD"}}}, None, False),
    (None, {"Study": {"DICOM": {"StudyDescription": "CHEST"}}}, False),
    (None, {"Study": {"Series": {SERIES: {"Instances": {INSTANCE: {}}}}}}, False),  # AWS example 3
], ids=["study-upsert", "study-removal", "instance-removal"])
def test_primary_accepts_study_and_instance_level_changes(primary: Any, updatable: Any, removable: Any,
                                                          force: bool) -> None:
    assert update(primary, updatable, removable, force=force)["latestVersionId"] == "2"
    state = primary.get_image_set(datastoreId=DS, imageSetId=IS)
    assert (state["imageSetWorkflowStatus"], state["isPrimary"]) == ("UPDATED", True)


def test_every_answer_reports_is_primary(primary: Any) -> None:
    for image_set_id, expected in ((IS, True), (OTHER, False)):
        assert primary.get_image_set(datastoreId=DS, imageSetId=image_set_id)["isPrimary"] is expected
        (props,) = primary.list_image_set_versions(datastoreId=DS, imageSetId=image_set_id)["imageSetPropertiesList"]
        assert props["isPrimary"] is expected
    summaries = primary.search_image_sets(datastoreId=DS, searchCriteria={})["imageSetsMetadataSummaries"]
    assert {s["imageSetId"]: s["isPrimary"] for s in summaries} == {IS: True, OTHER: False}


@pytest.mark.parametrize(("value", "expected"), [(True, [IS]), (False, [OTHER])])
def test_search_filters_on_is_primary(primary: Any, value: bool, expected: list[str]) -> None:
    criteria = {"filters": [{"operator": "EQUAL", "values": [{"isPrimary": value}]}]}
    summaries = primary.search_image_sets(datastoreId=DS, searchCriteria=criteria)["imageSetsMetadataSummaries"]
    assert [s["imageSetId"] for s in summaries] == expected
