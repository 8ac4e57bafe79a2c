"""Two knobs that play answers the model allows, over both transports with the real boto3 client:
``omit_is_primary`` leaves the optional ``isPrimary`` out of every answer that carries it, and
``first_version`` starts a new image set made by CopyImageSet at another version than 1, which its answer
gives (``destinationImageSetProperties.latestVersionId``)."""

from __future__ import annotations

from typing import Any

from reconciler.emulator.knobs import EmulatorConfig
from reconciler.emulator.store import Store
from tests.support.emuhelpers import DS, IS, copy, state, update


def test_omit_is_primary_leaves_the_flag_out_of_get_list_and_search(
        transport: Any, store_dir: Any, seeded: Store, clock: Any) -> None:
    told = transport(store_dir, None, clock)
    assert told.get_image_set(datastoreId=DS, imageSetId=IS)["isPrimary"] is False
    silent = transport(store_dir, EmulatorConfig(omit_is_primary=True), clock)
    assert "isPrimary" not in silent.get_image_set(datastoreId=DS, imageSetId=IS)
    (listed,) = silent.list_image_set_versions(datastoreId=DS, imageSetId=IS)["imageSetPropertiesList"]
    assert listed["versionId"] == "1" and "isPrimary" not in listed
    found = silent.search_image_sets(datastoreId=DS)["imageSetsMetadataSummaries"]
    assert [h["imageSetId"] for h in found] == [IS] and "isPrimary" not in found[0]


def test_first_version_starts_a_copy_at_the_version_its_answer_gives(
        transport: Any, store_dir: Any, seeded: Store, clock: Any) -> None:
    client = transport(store_dir, EmulatorConfig(first_version=7), clock)
    answer = copy(client)
    destination = answer["destinationImageSetProperties"]
    new_id = destination["imageSetId"]
    assert destination["latestVersionId"] == "7" and answer["sourceImageSetProperties"]["latestVersionId"] == "1"
    assert state(client, new_id) == ("7", "ACTIVE", "COPIED")
    listed = client.list_image_set_versions(datastoreId=DS, imageSetId=new_id)["imageSetPropertiesList"]
    assert [v["versionId"] for v in listed] == ["7"]
    assert update(client, {"Study": {"DICOM": {"StudyDescription": "HEAD"}}}, version="7",
                  image_set_id=new_id)["latestVersionId"] == "8"
    into = copy(client, destination=(new_id, "8"), force=True)  # an existing destination: its next version
    assert into["destinationImageSetProperties"]["latestVersionId"] == "9"
