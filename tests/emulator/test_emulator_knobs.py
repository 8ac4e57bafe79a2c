"""Knobs: option parsing, the token bucket, rate limits answering 429 and injected faults."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable
from typing import Any

import boto3
import pytest
from botocore import retryhandler
from botocore.awsrequest import AWSResponse
from botocore.exceptions import ClientError, ConnectionClosedError
from botocore.loaders import create_loader
from botocore.retries.standard import RetryContext, StandardRetryConditions
from botocore.translate import build_retry_config

from reconciler.emulator.inprocess import attach
from reconciler.emulator.knobs import (
    EmulatorConfig,
    Knobs,
    parse_barrier_options,
    parse_fault_options,
    parse_hold_options,
)
from reconciler.emulator.wire import DropConnection
from reconciler.errors import UsageError
from reconciler.ratelimit import TokenBucket, parse_bursts, parse_rates
from tests.support.emuhelpers import DS, IS, NO_RETRIES, error_code, metadata, update


@pytest.mark.parametrize(("items", "expected", "bursts"), [
    (["UpdateImageSetMetadata=0.25"], {"UpdateImageSetMetadata": 0.25}, {}),
    (["*=10", "GetImageSet=2"], {"*": 10.0, "GetImageSet": 2.0}, {}),
    (["UpdateImageSetMetadata=1:1"], {"UpdateImageSetMetadata": 1.0}, {"UpdateImageSetMetadata": 1.0}),
    (["*=10:3", "GetImageSet=2"], {"*": 10.0, "GetImageSet": 2.0}, {"*": 3.0}),
])
def test_parse_rates(items: list[str], expected: dict[str, float], bursts: dict[str, float]) -> None:
    assert parse_rates(items) == expected
    assert parse_bursts(items) == bursts


@pytest.mark.parametrize(("items", "expected"), [
    (["*=500:0.1"], {"*": [("500", 0.1)]}),
    (["GetImageSet=drop:1", "GetImageSet=throttle:0.5"], {"GetImageSet": [("drop", 1.0), ("throttle", 0.5)]}),
    (["UpdateImageSetMetadata=update_failed:1"], {"UpdateImageSetMetadata": [("update_failed", 1.0)]}),
    (["CopyImageSet=copy_failed:0.5"], {"CopyImageSet": [("copy_failed", 0.5)]}),
])
def test_parse_faults(items: list[str], expected: dict[str, list[tuple[str, float]]]) -> None:
    assert parse_fault_options(items) == expected


@pytest.mark.parametrize("item", ["GetImageSet", "=1", "GetImageSet=fast", "GetImageSet=0", "GetImageSet=-1",
                                  "GetImageSet=inf", "GetImageSet=1:", "GetImageSet=1:x", "GetImageSet=1:0.5",
                                  "GetImageSet=1:nan", "GetImageSet=1:2:3"])
def test_bad_rate_option(item: str) -> None:
    with pytest.raises(UsageError):
        parse_rates([item])


@pytest.mark.parametrize("item", ["GetImageSet=500", "GetImageSet=boom:0.5", "GetImageSet=500:2", "=500:1",
                                  "GetImageSet=drop:x"])
def test_bad_fault_option(item: str) -> None:
    with pytest.raises(UsageError):
        parse_fault_options([item])


def test_token_bucket_refills_at_its_rate() -> None:
    now = [0.0]
    bucket = TokenBucket(rate=0.25, burst=1, now=now[0])
    assert [bucket.take(now[0]), bucket.take(now[0])] == [True, False]
    now[0] = 3.9
    assert bucket.take(now[0]) is False
    now[0] = 4.0
    assert bucket.take(now[0]) is True


def test_star_rate_gives_each_operation_its_own_bucket() -> None:
    knobs = Knobs(EmulatorConfig(rates={"*": 1}), clock=lambda: 0.0)
    assert [knobs.admit("GetImageSet"), knobs.admit("GetImageSet"), knobs.admit("SearchImageSets")] == [
        True, False, True]


@pytest.mark.parametrize(("config", "admitted"), [
    (EmulatorConfig(rates={"GetImageSet": 5}), 5),  # lenient: a burst of one second's worth
    (EmulatorConfig(rates={"GetImageSet": 5}, bursts={"GetImageSet": 1}), 1),  # strict
    (EmulatorConfig(rates={"*": 5}, bursts={"*": 2}), 2),
    (EmulatorConfig(rates={"*": 5, "GetImageSet": 3}, bursts={"*": 1}), 3),  # the * burst is the * rate's
])
def test_burst_is_what_the_server_admits_at_once(config: EmulatorConfig, admitted: int) -> None:
    knobs = Knobs(config, clock=lambda: 0.0)
    assert [knobs.admit("GetImageSet") for _ in range(6)] == [True] * admitted + [False] * (6 - admitted)


def test_a_strict_server_refuses_a_request_a_moment_early() -> None:
    now = [0.0]
    knobs = Knobs(EmulatorConfig(rates={"UpdateImageSetMetadata": 1}, bursts={"UpdateImageSetMetadata": 1}),
                  clock=lambda: now[0])
    assert knobs.admit("UpdateImageSetMetadata")
    now[0] = 0.999
    assert not knobs.admit("UpdateImageSetMetadata")
    now[0] = 1.0
    assert knobs.admit("UpdateImageSetMetadata")


def test_seeded_faults_are_reproducible() -> None:
    config = EmulatorConfig(faults={"*": [("500", 0.5)]}, seed=7)
    knobs = [Knobs(config), Knobs(config)]
    rolls = [[k.fault("GetImageSet") for _ in range(20)] for k in knobs]
    assert rolls[0] == rolls[1] and {"500", None} == set(rolls[0])


def test_rate_limit_answers_throttling(transport: Any, store_dir: Any, seeded: Any, clock: Any) -> None:
    client = transport(store_dir, EmulatorConfig(rates={"GetImageSet": 0.001}), clock)
    client.get_image_set(datastoreId=DS, imageSetId=IS)
    with pytest.raises(ClientError) as err:
        client.get_image_set(datastoreId=DS, imageSetId=IS)
    assert error_code(err.value) == "ThrottlingException"
    assert err.value.response["ResponseMetadata"]["HTTPStatusCode"] == 429
    assert metadata(client)["ImageSetID"] == IS  # other operations are not limited


def test_throttles_are_counted_per_operation(store_dir: Any, seeded: Any) -> None:
    client = boto3.client("medical-imaging", region_name="us-east-1", aws_access_key_id="test",
                          aws_secret_access_key="test", config=NO_RETRIES)
    service = attach(client, str(store_dir), EmulatorConfig(rates={"GetImageSet": 0.001},
                                                            faults={"GetImageSetMetadata": [("throttle", 1.0)]}))
    for call in (client.get_image_set, client.get_image_set, client.get_image_set, client.get_image_set_metadata):
        with contextlib.suppress(ClientError):
            call(datastoreId=DS, imageSetId=IS)
    assert service.knobs.throttles() == {"GetImageSet": 2, "GetImageSetMetadata": 1}


@pytest.mark.parametrize(("kind", "code", "status"), [
    ("throttle", "ThrottlingException", 429), ("500", "InternalServerException", 500)])
def test_error_faults(transport: Any, store_dir: Any, seeded: Any, clock: Any, kind: str, code: str,
                      status: int) -> None:
    client = transport(store_dir, EmulatorConfig(faults={"GetImageSet": [(kind, 1.0)]}), clock)
    with pytest.raises(ClientError) as err:
        client.get_image_set(datastoreId=DS, imageSetId=IS)
    assert (error_code(err.value), err.value.response["ResponseMetadata"]["HTTPStatusCode"]) == (code, status)


def test_drop_fault_closes_the_connection(transport: Any, store_dir: Any, seeded: Any, clock: Any) -> None:
    client = transport(store_dir, EmulatorConfig(faults={"*": [("drop", 1.0)]}), clock)
    with pytest.raises(ConnectionClosedError):
        client.get_image_set(datastoreId=DS, imageSetId=IS)


def test_update_failed_fault_keeps_the_content(transport: Any, store_dir: Any, seeded: Any, clock: Any) -> None:
    client = transport(store_dir, EmulatorConfig(faults={"UpdateImageSetMetadata": [("update_failed", 1.0)]}), clock)
    answer = update(client, {"Patient": {"DICOM": {"PatientName": "A^B"}}})
    assert (answer["latestVersionId"], answer["imageSetWorkflowStatus"]) == ("2", "UPDATING")
    state = client.get_image_set(datastoreId=DS, imageSetId=IS)
    assert (state["imageSetState"], state["imageSetWorkflowStatus"]) == ("ACTIVE", "UPDATE_FAILED")
    assert state["message"]
    assert metadata(client, "2") == metadata(client, "1")


def test_a_throttled_answer_is_one_botocore_retries_in_both_its_modes(transport: Any, store_dir: Any, seeded: Any,
                                                                      clock: Any) -> None:
    """As AWS answers it (the model's ThrottlingException, HTTP 429), so that the SDKs back off and retry:
    botocore's standard (and adaptive) mode by its throttling error codes, its legacy mode by the 429."""
    client = transport(store_dir, EmulatorConfig(faults={"GetImageSet": [("throttle", 1.0)]}), clock)
    with pytest.raises(ClientError) as err:
        client.get_image_set(datastoreId=DS, imageSetId=IS)
    parsed = err.value.response
    http = AWSResponse("https://example.invalid", parsed["ResponseMetadata"]["HTTPStatusCode"], {}, None)
    operation = client.meta.service_model.operation_model("GetImageSet")
    context = RetryContext(attempt_number=1, operation_model=operation, parsed_response=parsed, http_response=http)
    assert StandardRetryConditions().is_retryable(context)
    legacy = create_loader().load_data("_retry")
    config = build_retry_config("medical-imaging", legacy["retry"], legacy["definitions"])
    checker = retryhandler.create_checker_from_retry_config(config, "GetImageSet")
    assert checker(attempt_number=1, response=(http, parsed), caught_exception=None, retries_context={})


def test_parse_barriers_and_holds() -> None:
    assert parse_barrier_options(["UpdateImageSetMetadata=4", "GetImageSet=2"]) == {
        "UpdateImageSetMetadata": 4, "GetImageSet": 2}
    assert parse_hold_options(["UpdateImageSetMetadata=0", "GetImageSet=3"]) == {
        "UpdateImageSetMetadata": 0, "GetImageSet": 3}


_BAD = ["UpdateImageSetMetadata", "UpdateImageSetMetadata=x", "=2", "UpdateImageSetMetdata=2"]


@pytest.mark.parametrize(("parse", "flag", "item"), [
    *[(parse_barrier_options, "--barrier", item) for item in [*_BAD, "UpdateImageSetMetadata=1"]],
    *[(parse_hold_options, "--hold", item) for item in [*_BAD, "UpdateImageSetMetadata=-1"]],
])
def test_bad_barrier_or_hold_option(parse: Callable[[list[str]], dict[str, int]], flag: str, item: str) -> None:
    with pytest.raises(UsageError, match=flag):
        parse([item])


def test_a_barrier_holds_the_first_n_requests_until_all_have_arrived() -> None:
    """The first N requests of the operation wait for the N-th; later ones and other operations pass."""
    knobs = Knobs(EmulatorConfig(barriers={"UpdateImageSetMetadata": 3}))
    knobs.meet("GetImageSet")  # another operation never waits
    passed: list[int] = []

    def request(n: int) -> None:
        knobs.meet("UpdateImageSetMetadata")
        passed.append(n)

    waiting = [threading.Thread(target=request, args=(n,)) for n in (1, 2)]
    for t in waiting:
        t.start()
    with knobs._met:  # both have arrived: they wait for the third
        knobs._met.wait_for(lambda: knobs._arrived["UpdateImageSetMetadata"] == 2)
        assert passed == [] and all(t.is_alive() for t in waiting)
    request(3)
    for t in waiting:
        t.join()
    assert sorted(passed) == [1, 2, 3]
    request(4)  # after the barrier: at once
    assert passed[-1] == 4


def _parked(knobs: Knobs, operation: str, count: int) -> tuple[list[threading.Thread], list[str]]:
    """COUNT requests of OPERATION in threads, returned once all are parked, with the list their outcomes
    ("passed", "dropped") go to."""
    outcomes: list[str] = []

    def request() -> None:
        try:
            knobs.hold(operation)
        except DropConnection:
            outcomes.append("dropped")
        else:
            outcomes.append("passed")

    threads = [threading.Thread(target=request) for _ in range(count)]
    for t in threads:
        t.start()
    with knobs._met:
        assert knobs._met.wait_for(lambda: knobs._parked == count, timeout=60)  # a hang guard
    return threads, outcomes


def test_a_hold_parks_the_requests_after_the_first_n_until_released() -> None:
    """The first N pass; later ones park (each announced) and go on at release, as do all after it."""
    announced: list[str] = []
    knobs = Knobs(EmulatorConfig(holds={"UpdateImageSetMetadata": 1}))
    knobs.announce = announced.append
    knobs.hold("GetImageSet")  # another operation never waits
    knobs.hold("UpdateImageSetMetadata")  # the first passes
    threads, outcomes = _parked(knobs, "UpdateImageSetMetadata", 2)
    assert all(t.is_alive() for t in threads) and outcomes == []
    assert sorted(a.partition(" parked")[0] for a in announced) == [
        "hold: UpdateImageSetMetadata request 2", "hold: UpdateImageSetMetadata request 3"]
    assert sorted(a.partition(" parked")[2] for a in announced) == [" (1 parked)", " (2 parked)"]
    knobs.release()
    for t in threads:
        t.join()
    assert outcomes == ["passed", "passed"]
    knobs.hold("UpdateImageSetMetadata")  # after the release: at once, unannounced
    assert len(announced) == 2


def test_a_stopping_server_drops_the_parked_requests() -> None:
    knobs = Knobs(EmulatorConfig(holds={"UpdateImageSetMetadata": 0}))
    threads, outcomes = _parked(knobs, "UpdateImageSetMetadata", 2)
    knobs.drop_held()
    for t in threads:
        t.join()
    assert outcomes == ["dropped", "dropped"]
    with pytest.raises(DropConnection):  # one that would park now is dropped at once
        knobs.hold("UpdateImageSetMetadata")
