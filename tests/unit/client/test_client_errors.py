"""Error translation at the boundary: every botocore failure becomes a reconciler error, retried or not."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from botocore import exceptions as bce

from reconciler.client.healthimaging import HealthImaging
from reconciler.errors import (
    CredentialsError,
    EndpointError,
    NotFound,
    ReconcilerError,
    ServiceError,
    StaleVersion,
    Throttled,
)
from reconciler.ratelimit import RateLimiter, RetryPolicy
from tests.support.awsfakes import DS, IS, Answer, error, make_api

SECRET = "SECRET^PATIENT"  # a patient value sent in requests: no message may contain it
MAX = 3

CLIENT_ERRORS = [
    # (code, HTTP status, expected class, attempts made)
    ("ThrottlingException", 429, Throttled, MAX),
    ("InternalServerException", 500, ServiceError, MAX),
    ("", 503, ServiceError, MAX),
    ("ResourceNotFoundException", 404, NotFound, 1),
    ("AccessDeniedException", 403, CredentialsError, 1),
    ("ExpiredTokenException", 400, CredentialsError, 1),
    ("UnrecognizedClientException", 403, CredentialsError, 1),
    ("InvalidSignatureException", 403, CredentialsError, 1),
    ("ValidationException", 400, ServiceError, 1),
    ("ServiceQuotaExceededException", 402, ServiceError, 1),
    ("ConflictException", 409, ServiceError, 1),
]


@pytest.mark.parametrize(("code", "status", "expected", "attempts"), CLIENT_ERRORS)
def test_client_errors_are_translated_after_the_right_number_of_attempts(
    code: str, status: int, expected: type[Exception], attempts: int
) -> None:
    answer = error(code, status) if code else Answer(status, b"Service Unavailable")
    api, _, _ = make_api([answer] * MAX, max_attempts=MAX)
    with pytest.raises(ReconcilerError) as info:
        api.get_image_set(DS, IS)
    assert type(info.value) is expected
    assert isinstance(info.value, ServiceError) and info.value.status == status
    assert api.stats["GetImageSet"] == attempts
    assert IS in str(info.value) and DS in str(info.value)


def test_service_messages_are_shortened() -> None:
    api, _, _ = make_api([error("ValidationException", 400, "x" * 5000)])
    with pytest.raises(ServiceError) as info:
        api.get_image_set(DS, IS)
    assert len(str(info.value)) < 400


def test_throttling_does_not_reach_the_caller_when_a_retry_succeeds() -> None:
    ok = Answer(body={"datastoreId": DS, "imageSetId": IS, "versionId": "1", "imageSetState": "ACTIVE"})
    api, _, clock = make_api([error("ThrottlingException", 429)] * 2 + [ok], max_attempts=MAX)
    assert api.get_image_set(DS, IS).version_id == "1"
    assert clock.sleeps == [0.5, 1.0]  # exponential (jitter pinned to its ceiling)
    assert api.stats.retries() == {"GetImageSet": 2}


def test_retries_stop_at_the_total_time_budget() -> None:
    api, _, _ = make_api([error("ThrottlingException", 429)] * 10, max_attempts=10, max_total=1.2)
    with pytest.raises(Throttled):
        api.get_image_set(DS, IS)
    assert api.stats["GetImageSet"] == 2  # sleeps 0.5, then 1.0 would pass the 1.2 s budget


def test_waiting_for_the_limiter_does_not_spend_the_retry_budget() -> None:
    ok = Answer(body={"datastoreId": DS, "imageSetId": IS, "versionId": "1", "imageSetState": "ACTIVE"})
    api, _, clock = make_api([error("ThrottlingException", 429)] * 2 + [ok], max_attempts=MAX, max_total=2.0)
    api.limiter = RateLimiter({"GetImageSet": 0.1}, clock=clock, sleep=clock.sleep)  # 10 s between tokens
    assert api.get_image_set(DS, IS).version_id == "1"
    assert clock.now >= 19.0  # two long limiter waits, yet the 2 s retry budget held


BOTOCORE_ERRORS: list[tuple[Callable[[], Exception], type[Exception], int]] = [
    (lambda: bce.EndpointConnectionError(endpoint_url="http://127.0.0.1:9"), EndpointError, MAX),
    (lambda: bce.ConnectTimeoutError(endpoint_url="http://127.0.0.1:9"), EndpointError, MAX),
    (lambda: bce.ReadTimeoutError(endpoint_url="http://127.0.0.1:9"), EndpointError, MAX),
    (lambda: bce.ConnectionClosedError(endpoint_url="http://127.0.0.1:9"), EndpointError, MAX),
    (lambda: bce.ProxyConnectionError(proxy_url="http://p", error="x"), EndpointError, MAX),
    (lambda: bce.ResponseStreamingError(error="reset"), EndpointError, MAX),
    (lambda: bce.IncompleteReadError(actual_bytes=1, expected_bytes=2), EndpointError, MAX),
    (lambda: bce.SSLError(endpoint_url="https://x", error="bad cert"), EndpointError, 1),
    (lambda: bce.NoCredentialsError(), CredentialsError, 1),
    (lambda: bce.PartialCredentialsError(provider="env", cred_var="AWS_SECRET_ACCESS_KEY"), CredentialsError, 1),
    (lambda: bce.CredentialRetrievalError(provider="sso", error_msg="expired"), CredentialsError, 1),
    (lambda: bce.ParamValidationError(report=f"Invalid type for parameter latestVersionId, value: {SECRET}"),
     ServiceError, 1),
    (lambda: bce.NoRegionError(), ReconcilerError, 1),
    (lambda: bce.BotoCoreError(), ServiceError, 1),
    (lambda: RuntimeError("a bug in a transport hook"), ServiceError, 1),
]


@pytest.mark.parametrize(("make_exc", "expected", "attempts"), BOTOCORE_ERRORS)
def test_botocore_exceptions_are_translated(
    make_exc: Callable[[], Exception], expected: type[Exception], attempts: int
) -> None:
    api, _, _ = make_api([make_exc() for _ in range(MAX)], max_attempts=MAX)
    with pytest.raises(expected) as info:
        api.get_image_set(DS, IS)
    assert not isinstance(info.value, bce.BotoCoreError | bce.ClientError)
    assert api.stats["GetImageSet"] == attempts
    assert SECRET not in str(info.value)


def test_endpoint_errors_name_the_endpoint() -> None:
    api, _, _ = make_api([bce.EndpointConnectionError(endpoint_url="http://emulator.invalid")] * MAX, max_attempts=MAX)
    with pytest.raises(EndpointError) as info:
        api.get_image_set(DS, IS)
    assert "http://emulator.invalid" in str(info.value) and "3 attempts" in str(info.value)


PUBLIC_CALLS: dict[str, Callable[[HealthImaging], Any]] = {
    "get_image_set": lambda api: api.get_image_set(DS, IS, "1"),
    "get_image_set_metadata": lambda api: api.get_image_set_metadata(DS, IS),
    "list_image_set_versions": lambda api: list(api.list_image_set_versions(DS, IS)),
    "search_image_sets": lambda api: list(api.search_image_sets(DS, "DICOMPatientId", SECRET)),
    "update_image_set_metadata": lambda api: api.update_image_set_metadata(
        DS, IS, "1", updatable=f'{{"Patient":{{"DICOM":{{"PatientName":"{SECRET}"}}}}}}'.encode(), force=True
    ),
    "revert_image_set": lambda api: api.revert_image_set(DS, IS, "3", "1"),
    "get_datastore": lambda api: api.get_datastore(DS),
    "list_datastores": lambda api: list(api.list_datastores()),
    "create_datastore": lambda api: api.create_datastore("demo"),
    "delete_image_set": lambda api: api.delete_image_set(DS, IS),
}
FAILURES: list[Callable[[], Exception | Answer]] = [
    lambda: error("ThrottlingException", 429),
    lambda: error("ConflictException", 409),
    lambda: error("InternalServerException", 500, "internal failure " * 50),
    lambda: Answer(500, b"<html>oops</html>"),
    lambda: bce.ConnectionClosedError(endpoint_url="http://x"),
    lambda: bce.NoCredentialsError(),
    lambda: bce.ParamValidationError(report=f"Invalid value {SECRET} for parameter imageSetId"),
    lambda: KeyError("boom"),
]


@pytest.mark.parametrize("call", list(PUBLIC_CALLS.values()), ids=list(PUBLIC_CALLS))
@pytest.mark.parametrize("make_failure", FAILURES, ids=[
    "throttle", "conflict", "500", "500-html", "dropped", "no-credentials", "param-validation", "hook-bug"])
def test_no_botocore_exception_escapes_a_public_method(
    call: Callable[[HealthImaging], Any], make_failure: Callable[[], Exception | Answer]
) -> None:
    # enough failures for every attempt plus the GetImageSet a conflict triggers
    api, _, _ = make_api([make_failure() for _ in range(2 * MAX + 2)], max_attempts=MAX)
    with pytest.raises(ReconcilerError) as info:
        call(api)
    assert not isinstance(info.value, bce.BotoCoreError | bce.ClientError)
    assert SECRET not in str(info.value)


def test_stale_version_keeps_the_exit_code_three() -> None:
    api, _, _ = make_api([error("ConflictException", 409), error("ResourceNotFoundException", 404)])
    with pytest.raises(StaleVersion) as info:
        api.revert_image_set(DS, IS, "3", "1")
    assert info.value.exit_code == 3 and info.value.planned_version == "3"


@pytest.mark.parametrize("call", ["search_image_sets", "update_image_set_metadata"])
@pytest.mark.parametrize("code,status", [("ValidationException", 400), ("InternalServerException", 500)])
def test_service_messages_never_echo_values_the_request_sent(call: str, code: str, status: int) -> None:
    echo = error(code, status, f"bad value '{SECRET}' at Patient.DICOM.PatientName")
    api, _, _ = make_api([echo] * MAX, max_attempts=MAX)
    with pytest.raises(ServiceError) as info:
        PUBLIC_CALLS[call](api)
    assert SECRET not in str(info.value)
    assert "<redacted>" in str(info.value) and "Patient.DICOM.PatientName" in str(info.value)


def test_botocore_does_not_retry_behind_our_back_even_when_the_client_asks_it_to() -> None:
    import boto3

    from tests.support.awsfakes import ScriptedTransport

    client = boto3.client("medical-imaging", region_name="us-east-1", aws_access_key_id="test",
                          aws_secret_access_key="test", endpoint_url="http://emulator.invalid")  # default retries
    transport = ScriptedTransport(client, [error("ThrottlingException", 429)] * 10)
    api = HealthImaging(client, retry=RetryPolicy(max_attempts=2, base=0.0), sleep=lambda s: None)
    with pytest.raises(Throttled):
        api.get_image_set(DS, IS)
    assert len(transport.requests) == 2 == api.stats["GetImageSet"]


@pytest.mark.parametrize(
    ("make_exc", "attempts"),
    [
        (lambda: bce.EndpointConnectionError(endpoint_url="http://127.0.0.1:9"), 3),  # refused: give up soon
        (lambda: bce.ConnectTimeoutError(endpoint_url="http://127.0.0.1:9"), 3),
        (lambda: bce.ConnectionClosedError(endpoint_url="http://127.0.0.1:9"), 8),  # dropped: worth more
        (lambda: bce.ReadTimeoutError(endpoint_url="http://127.0.0.1:9"), 8),
    ],
)
def test_unreachable_endpoints_are_given_up_on_sooner(make_exc: Callable[[], Exception], attempts: int) -> None:
    api, _, _ = make_api([make_exc() for _ in range(8)], max_attempts=8)
    with pytest.raises(EndpointError):
        api.get_image_set(DS, IS)
    assert api.stats["GetImageSet"] == attempts


def test_retries_are_logged_with_ids_and_codes_only(caplog: pytest.LogCaptureFixture) -> None:
    page = Answer(body={"imageSetsMetadataSummaries": [{"imageSetId": IS, "version": 1}]})
    api, _, _ = make_api([error("ThrottlingException", 429, f"slow down {SECRET}"), page])
    with caplog.at_level("DEBUG", logger="reconciler.client"):
        assert [hit.image_set_id for hit in api.search_image_sets(DS, "DICOMPatientId", SECRET)] == [IS]
    assert "SearchImageSets" in caplog.text and "ThrottlingException" in caplog.text and DS in caplog.text
    assert SECRET not in caplog.text
