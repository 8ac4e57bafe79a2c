"""The conservative readings of the primary-image-set rules (``reconciler.dicom.primary``), each with its
knob, over both transports with the real boto3 client: force on a primary (400), a whole series removed
from a primary (400), and a promotion into a study whose other primary holds other Patient-level
metadata (409). Messages name the rule and the AWS page, never a value."""

from __future__ import annotations

from typing import Any

import pytest
from botocore.exceptions import ClientError

from reconciler.dicom.primary import STUDY_PAGE, UPDATE_PAGE
from reconciler.emulator.knobs import EmulatorConfig
from reconciler.emulator.store import Store
from tests.support.emuhelpers import DS, copy, error_code, metadata, state, update
from tests.support.replaceenv import document

A, B, C = "a" * 32, "b" * 32, "c" * 32  # two primaries of one study (series of their own), a copy of A
STUDY, OLD, NEW = "1.2.840.77.0", "QQOLD^ZZNAME", "QQNEW^ZZNAME"
SERIES_A = "1.2.840.77.1"


@pytest.fixture
def study(store: Store, clock: Any) -> Store:
    now = clock()
    store.ensure_datastore(DS, now=now)
    store.put_image_set(DS, A, document(STUDY, OLD, first=77), now=now)
    store.put_image_set(DS, B, document(STUDY, OLD, first=78), now=now)
    return store


def _refused(call: Any, code: str, status: int) -> str:
    with pytest.raises(ClientError) as err:
        call()
    assert (error_code(err.value), err.value.response["ResponseMetadata"]["HTTPStatusCode"]) == (code, status)
    message: str = err.value.response["Error"]["Message"]
    for value in (OLD, NEW, "QQ", "HEAD"):
        assert value not in message  # the rule and the page, never a value
    return message


UPDATES = {
    "force": (({"Study": {"DICOM": {"StudyDescription": "HEAD"}}}, None, True),
              "force cannot be used on a primary image set", "lenient_primary_force"),
    "series-removal": ((None, {"Study": {"Series": {SERIES_A: {}}}}, False),
                       "a whole series cannot be removed from a primary image set", "lenient_series_removal"),
}


@pytest.mark.parametrize("case", sorted(UPDATES))
def test_a_primary_refuses_force_and_a_whole_series_removal_and_its_knob_lifts_it(
        transport: Any, store_dir: Any, study: Store, clock: Any, case: str) -> None:
    (updatable, removable, force), rule, knob = UPDATES[case]
    strict = transport(store_dir, None, clock)
    message = _refused(lambda: update(strict, updatable, removable, force=force, image_set_id=A),
                       "ValidationException", 400)
    assert rule in message and UPDATE_PAGE in message and A in message
    assert state(strict, A)[0] == "1"  # nothing written
    lenient = transport(store_dir, EmulatorConfig(**{knob: True}), clock)
    assert update(lenient, updatable, removable, force=force, image_set_id=A)["latestVersionId"] == "2"


def test_a_non_primary_takes_force_and_a_series_removal(transport: Any, store_dir: Any, study: Store,
                                                        clock: Any) -> None:
    client = transport(store_dir, None, clock)
    made = copy(client, A)["destinationImageSetProperties"]
    assert update(client, {"Study": {"DICOM": {"StudyDescription": "HEAD"}}}, None, force=True,
                  image_set_id=made["imageSetId"], version=made["latestVersionId"])["latestVersionId"] == "2"


def _promote_edited_copy(client: Any, clock: Any, name: str) -> Any:
    """Copy A, rename the copy's patient to NAME, delete A, then promote the copy (the documented order)."""
    made = copy(client, A)["destinationImageSetProperties"]
    copy_id = made["imageSetId"]
    update(client, {"Patient": {"DICOM": {"PatientName": name}}}, None, image_set_id=copy_id,
           version=made["latestVersionId"])
    client.delete_image_set(datastoreId=DS, imageSetId=A)
    clock.advance(60)
    return lambda: copy(client, copy_id, "2", promote=True)


def test_a_promotion_is_refused_while_another_primary_of_the_study_holds_other_patient_metadata(
        transport: Any, store_dir: Any, study: Store, clock: Any) -> None:
    client = transport(store_dir, None, clock)
    promote = _promote_edited_copy(client, clock, NEW)
    message = _refused(promote, "ConflictException", 409)
    assert B in message and "Patient-level" in message and STUDY_PAGE in message
    primaries = [s["imageSetId"] for s in client.search_image_sets(datastoreId=DS, searchCriteria={})[
        "imageSetsMetadataSummaries"] if s.get("isPrimary")]
    assert primaries == [B]  # nothing promoted


def test_a_promotion_that_agrees_with_the_other_primaries_is_accepted(transport: Any, store_dir: Any, study: Store,
                                                                      clock: Any) -> None:
    client = transport(store_dir, None, clock)
    promoted = _promote_edited_copy(client, clock, OLD)()["destinationImageSetProperties"]
    clock.advance(60)
    assert client.get_image_set(datastoreId=DS, imageSetId=promoted["imageSetId"])["isPrimary"] is True


def test_the_promotion_knob_lets_the_primaries_disagree(transport: Any, store_dir: Any, study: Store,
                                                        clock: Any) -> None:
    client = transport(store_dir, EmulatorConfig(lenient_promotion=True), clock)
    promoted = _promote_edited_copy(client, clock, NEW)()["destinationImageSetProperties"]
    clock.advance(60)
    new_id = promoted["imageSetId"]
    assert metadata(client, image_set_id=new_id)["Patient"]["DICOM"]["PatientName"] == NEW
