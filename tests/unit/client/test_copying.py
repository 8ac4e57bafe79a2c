"""The client's CopyImageSet and asynchronous DeleteImageSet, against the in-process emulator (real boto3,
one fake clock for the emulator's locks, the pacer and the waiter) and, for the failures that only a
network makes, a scripted transport."""

from __future__ import annotations

import copy as copying
import json
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ConnectionClosedError

from reconciler.apply.waiter import WaitPolicy, WaitTimeout, wait_until_deleted, wait_until_settled
from reconciler.client.copying import copiable_attributes
from reconciler.client.healthimaging import HealthImaging
from reconciler.emulator.knobs import EmulatorConfig
from reconciler.emulator.store import Store
from reconciler.errors import NotFound, OutcomeUnknown, ReconcilerError, ServiceError, StaleVersion
from reconciler.ratelimit import RateLimiter
from tests.support import awsfakes
from tests.support.awsfakes import Answer, FakeClock, error, make_api
from tests.support.backends import make_local_client, start_server
from tests.support.emuhelpers import DS, IS, NO_RETRIES, SERIES, SERIES7, load_doc

LOCK = 30.0
COPY = "c" * 32
SEED = load_doc("seed_examples.json")
POLICY = WaitPolicy(initial=1.0, factor=2.0, max_interval=8.0, timeout=600.0)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def store(tmp_path: Path, clock: FakeClock) -> Store:
    """IS primary, COPY a non-primary copy of it."""
    store = Store(tmp_path / "store")
    store.ensure_datastore(DS, now=clock())
    store.put_image_set(DS, IS, SEED, now=clock())
    store.put_image_set(DS, COPY, SEED, is_primary=False, now=clock())
    return store


@pytest.fixture(params=["inprocess", "http"])
def api(request: pytest.FixtureRequest, store: Store, clock: FakeClock) -> HealthImaging:
    """The client over the emulator (in process, or `emulator serve`'s server over HTTP), LOCK seconds of
    lock; pacing, waiting and locks share the clock."""
    config = EmulatorConfig(lock_seconds=LOCK)
    if request.param == "inprocess":
        client = make_local_client(str(store.directory), config, client_config=NO_RETRIES, clock=clock)
    else:
        server, thread, url = start_server(store.directory, config, clock=clock)
        request.addfinalizer(lambda: (server.shutdown(), server.server_close(), thread.join(timeout=5)))
        client = boto3.client("medical-imaging", region_name="us-east-1", endpoint_url=url,
                              aws_access_key_id="test", aws_secret_access_key="test",
                              config=NO_RETRIES.merge(Config(inject_host_prefix=False)))
    return HealthImaging(client, limiter=RateLimiter(clock=clock, sleep=clock.sleep), clock=clock,
                         sleep=clock.sleep)


def test_copy_then_wait_for_both_image_sets(api: HealthImaging, clock: FakeClock) -> None:
    result = api.copy_image_set(DS, IS, "1")
    assert result.datastore_id == DS
    assert (result.source.image_set_id, result.source.version_id, result.source.state,
            result.source.workflow_status) == (IS, "1", "LOCKED", "COPYING_WITH_READ_ONLY_ACCESS")
    new = result.destination
    assert (new.version_id, new.state, new.workflow_status) == ("1", "LOCKED", "COPYING")
    assert new.image_set_id not in (IS, COPY) and new.created_at == pytest.approx(clock())

    settled = wait_until_settled(api, DS, new.image_set_id, new.version_id, POLICY, sleep=clock.sleep, clock=clock)
    assert (settled.state, settled.workflow_status, settled.is_primary) == ("ACTIVE", "COPIED", False)
    assert clock.sleeps == [1.0, 2.0, 4.0, 8.0, 8.0, 8.0]  # until the 30 s lock is over
    source = wait_until_settled(api, DS, IS, "1", POLICY, sleep=clock.sleep, clock=clock)
    assert (source.version_id, source.workflow_status) == ("1", "COPIED")
    assert api.get_image_set_metadata(DS, new.image_set_id)["Study"] == SEED["Study"]


def test_a_subset_is_sent_as_copiable_attributes(api: HealthImaging, clock: FakeClock) -> None:
    (instance,) = SEED["Study"]["Series"][SERIES7]["Instances"]
    new = api.copy_image_set(DS, COPY, "1", subset={SERIES7: [instance]}).destination
    wait_until_settled(api, DS, new.image_set_id, "1", POLICY, sleep=clock.sleep, clock=clock)
    assert list(api.get_image_set_metadata(DS, new.image_set_id)["Study"]["Series"]) == [SERIES7]


def test_copiable_attributes_has_the_documented_shape() -> None:
    text = copiable_attributes({SERIES7: ["2.2", "1.1"], SERIES: []})
    assert json.loads(text) == {"SchemaVersion": "1.1", "Study": {"Series": {
        SERIES: {}, SERIES7: {"Instances": {"1.1": {}, "2.2": {}}}}}}


def test_copy_into_a_destination_with_force(api: HealthImaging, store: Store, clock: FakeClock) -> None:
    doc = copying.deepcopy(SEED)
    doc["Patient"]["DICOM"]["PatientName"] = "OTHER^NAME"
    doc["Study"]["Series"] = {}
    store.put_image_set(DS, "d" * 32, doc, is_primary=False, now=clock())
    result = api.copy_image_set(DS, COPY, "1", destination=("d" * 32, "1"), force=True)
    assert (result.destination.image_set_id, result.destination.version_id) == ("d" * 32, "2")
    settled = wait_until_settled(api, DS, "d" * 32, "2", POLICY, sleep=clock.sleep, clock=clock)
    assert (settled.workflow_status, settled.forced) == ("COPIED", True)


@pytest.mark.parametrize(("source_version", "destination", "stale"), [
    ("2", None, COPY), ("1", ("d" * 32, "3"), "d" * 32)])
def test_a_stale_guard_is_stale_version_naming_the_image_set(
    api: HealthImaging, store: Store, clock: FakeClock, source_version: str,
    destination: tuple[str, str] | None, stale: str
) -> None:
    store.put_image_set(DS, "d" * 32, SEED, is_primary=False, now=clock())
    with pytest.raises(StaleVersion) as info:
        api.copy_image_set(DS, COPY, source_version, destination=destination)
    assert info.value.exit_code == 3
    assert stale in info.value.message and info.value.current_version == "1"
    assert info.value.planned_version == (destination[1] if destination else source_version)


def test_a_refused_promotion_is_a_conflict_not_stale(api: HealthImaging, clock: FakeClock) -> None:
    with pytest.raises(ServiceError) as info:
        api.copy_image_set(DS, COPY, "1", promote=True)
    assert type(info.value) is ServiceError and info.value.code == "ConflictException"
    assert f"primary image set {IS} holds" in info.value.message and info.value.hint is None

    deleting = api.delete_image_set(DS, IS)
    assert (deleting.state, deleting.workflow_status) == ("LOCKED", "DELETING")
    deleted = wait_until_deleted(api, DS, IS, POLICY, sleep=clock.sleep, clock=clock)
    assert (deleted.state, deleted.workflow_status) == ("DELETED", "DELETED")
    promoted = api.copy_image_set(DS, COPY, "1", promote=True).destination
    settled = wait_until_settled(api, DS, promoted.image_set_id, "1", POLICY, sleep=clock.sleep, clock=clock)
    assert (settled.is_primary, settled.workflow_status) == (True, "COPIED")


def test_a_locked_image_set_is_a_conflict_with_a_hint(api: HealthImaging) -> None:
    api.update_image_set_metadata(DS, COPY, "1", updatable=b'{"SchemaVersion":1.1,"Study":{"DICOM":'
                                                           b'{"StudyDescription":"X"}}}')
    with pytest.raises(ServiceError) as info:
        api.copy_image_set(DS, COPY, "2")
    assert type(info.value) is ServiceError and "wait until it is ACTIVE" in str(info.value)
    with pytest.raises(ServiceError) as info:
        api.delete_image_set(DS, COPY)
    assert "LOCKED (UPDATING in progress)" in info.value.message and "wait until" in str(info.value)


def test_deleting_again_answers_with_the_deletion_under_way_or_done(api: HealthImaging, clock: FakeClock) -> None:
    api.delete_image_set(DS, COPY)
    again = api.delete_image_set(DS, COPY)  # DELETING: the emulator answers 409, the client reads the state
    assert (again.version_id, again.state, again.workflow_status) == ("1", "LOCKED", "DELETING")
    wait_until_deleted(api, DS, COPY, POLICY, sleep=clock.sleep, clock=clock)
    done = api.delete_image_set(DS, COPY)  # DELETED: 404, and GetImageSet says DELETED
    assert (done.state, done.workflow_status) == ("DELETED", "DELETED")
    with pytest.raises(NotFound):
        api.delete_image_set(DS, "f" * 32)


def test_waiting_for_a_deletion_times_out_or_refuses_an_active_image_set(api: HealthImaging,
                                                                         clock: FakeClock) -> None:
    with pytest.raises(ReconcilerError, match=f"image set {COPY} is ACTIVE .* it was not deleted"):
        wait_until_deleted(api, DS, COPY, POLICY, sleep=clock.sleep, clock=clock)
    api.delete_image_set(DS, COPY)
    with pytest.raises(WaitTimeout, match="still LOCKED \\(DELETING\\) after 5 s"):
        wait_until_deleted(api, DS, COPY, WaitPolicy(timeout=5.0), sleep=clock.sleep, clock=clock)


def test_waiting_for_an_image_set_no_longer_found_counts_as_deleted(clock: FakeClock) -> None:
    api, _, _ = make_api([error("ResourceNotFoundException", 404)])
    info = wait_until_deleted(api, awsfakes.DS, awsfakes.IS, POLICY, sleep=clock.sleep, clock=clock)
    assert (info.image_set_id, info.state) == (awsfakes.IS, "DELETED")


COPIED = Answer(body={"datastoreId": awsfakes.DS, "sourceImageSetProperties": {
    "imageSetId": awsfakes.IS, "latestVersionId": "1", "imageSetState": "LOCKED"},
    "destinationImageSetProperties": {"imageSetId": "b" * 32, "latestVersionId": "1", "imageSetState": "LOCKED"}})


@pytest.mark.parametrize("failure", [ConnectionClosedError(endpoint_url="http://x"),
                                     error("InternalServerException", 500)], ids=["dropped", "500"])
def test_a_copy_that_may_have_landed_is_not_sent_again(failure: Any) -> None:
    api, transport, _ = make_api([failure, COPIED])
    with pytest.raises(OutcomeUnknown) as info:
        api.copy_image_set(awsfakes.DS, awsfakes.IS, "1")
    assert api.stats["CopyImageSet"] == 1 and len(transport.requests) == 1
    assert "may have been made" in info.value.message and "look for the copy" in str(info.value)


def test_a_throttled_copy_is_sent_again() -> None:
    api, transport, _ = make_api([error("ThrottlingException", 429), COPIED])
    assert api.copy_image_set(awsfakes.DS, awsfakes.IS, "1").destination.image_set_id == "b" * 32
    assert [r[0] for r in transport.requests] == ["CopyImageSet", "CopyImageSet"]
    body = json.loads(transport.requests[0][3])
    assert body == {"sourceImageSet": {"latestVersionId": "1"}}
    assert "force=false" in transport.requests[0][2] and "promoteToPrimary=false" in transport.requests[0][2]


def test_a_retried_delete_that_finds_its_own_deletion_succeeds() -> None:
    deleting = Answer(body=awsfakes.image_set("3", "LOCKED", imageSetWorkflowStatus="DELETING"))
    api, transport, _ = make_api([ConnectionClosedError(endpoint_url="http://x"),
                                  error("ConflictException", 409, "LOCKED"), deleting])
    info = api.delete_image_set(awsfakes.DS, awsfakes.IS)
    assert (info.version_id, info.workflow_status) == ("3", "DELETING")
    assert [r[0] for r in transport.requests] == ["DeleteImageSet", "DeleteImageSet", "GetImageSet"]

