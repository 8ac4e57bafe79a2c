"""SigV4 verification against requests signed by botocore's own signer."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from urllib.parse import urlsplit

import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from reconciler.emulator.sigv4 import AuthError, RawRequest, verify

URL = ("http://127.0.0.1:4566/datastore/12345678901234567890123456789012/imageSet/"
       "ea92b0d8838c72a3f25d00d13616f87e/updateImageSetMetadata?latestVersion=1&force=true")
BODY = b'{"DICOMUpdates": {"updatableAttributes": "e30="}}'


def _signed(url: str = URL, body: bytes = BODY, key: str = "test", secret: str = "test",
            headers: dict[str, str] | None = None, service: str = "medical-imaging",
            region: str = "us-east-1") -> RawRequest:
    req = AWSRequest(method="POST", url=url, data=body, headers=headers or {})
    SigV4Auth(Credentials(key, secret), service, region).add_auth(req)
    parts = urlsplit(url)
    hdrs = {k.lower(): v for k, v in req.headers.items()}
    hdrs["host"] = parts.netloc
    return RawRequest("POST", parts.path, parts.query, hdrs, body)


def _verify(req: RawRequest, **kw: object) -> None:
    verify(req, access_key="test", secret_key="test", **kw)  # type: ignore[arg-type]


@pytest.mark.parametrize("url", [
    URL,
    "http://127.0.0.1:4566/datastore",
    "http://localhost:9/datastore/abc/imageSet/def/listImageSetVersions?maxResults=2&nextToken=a%2Bb%3D",
])
def test_botocore_signature_is_accepted(url: str) -> None:
    _verify(_signed(url))


def test_payload_hash_header_is_used_when_present() -> None:
    import hashlib
    req = _signed(headers={"X-Amz-Content-SHA256": hashlib.sha256(BODY).hexdigest()})
    _verify(req)


def _tamper_body(r: RawRequest) -> RawRequest:
    return RawRequest(r.method, r.raw_path, r.raw_query, r.headers, r.body + b" ")


def _tamper_query(r: RawRequest) -> RawRequest:
    return RawRequest(r.method, r.raw_path, r.raw_query.replace("latestVersion=1", "latestVersion=2"),
                      r.headers, r.body)


def _tamper_path(r: RawRequest) -> RawRequest:
    return RawRequest(r.method, r.raw_path.replace("ea92", "fa92"), r.raw_query, r.headers, r.body)


def _drop_auth(r: RawRequest) -> RawRequest:
    return RawRequest(r.method, r.raw_path, r.raw_query,
                      {k: v for k, v in r.headers.items() if k != "authorization"}, r.body)


def _garble_auth(r: RawRequest) -> RawRequest:
    return RawRequest(r.method, r.raw_path, r.raw_query, {**r.headers, "authorization": "Bearer x"}, r.body)


@pytest.mark.parametrize(("tamper", "code"), [
    (_tamper_body, "InvalidSignatureException"),
    (_tamper_query, "InvalidSignatureException"),
    (_tamper_path, "InvalidSignatureException"),
    (_drop_auth, "MissingAuthenticationTokenException"),
    (_garble_auth, "IncompleteSignatureException"),
])
def test_altered_request_is_refused(tamper: object, code: str) -> None:
    with pytest.raises(AuthError) as err:
        _verify(tamper(_signed()))  # type: ignore[operator]
    assert (err.value.status, err.value.code) == (403, code)


@pytest.mark.parametrize(("key", "secret", "code"), [
    ("other", "test", "UnrecognizedClientException"),
    ("test", "wrong-secret", "InvalidSignatureException"),
])
def test_wrong_credentials_are_refused(key: str, secret: str, code: str) -> None:
    with pytest.raises(AuthError) as err:
        _verify(_signed(key=key, secret=secret))
    assert err.value.code == code


@pytest.mark.parametrize(("offset", "ok"), [
    (timedelta(minutes=14), True),
    (timedelta(minutes=-14), True),
    (timedelta(minutes=16), False),
    (timedelta(hours=-3), False),
])
def test_clock_skew_limit(offset: timedelta, ok: bool) -> None:
    req = _signed()
    now = datetime.now(UTC) + offset
    if ok:
        _verify(req, now=now)
    else:
        with pytest.raises(AuthError, match="Signature expired"):
            _verify(req, now=now)


def test_mismatched_payload_hash_header_is_refused() -> None:
    req = _signed(headers={"X-Amz-Content-SHA256": "0" * 64})
    with pytest.raises(AuthError, match="x-amz-content-sha256"):
        _verify(req)


@pytest.mark.parametrize(("service", "region", "server_region", "message"), [
    ("s3", "us-east-1", "us-east-1", "Credential should be scoped to correct service: 'medical-imaging'."),
    ("execute-api", "us-east-1", None, "Credential should be scoped to correct service: 'medical-imaging'."),
    ("medical-imaging", "eu-west-1", "us-east-1", "Credential should be scoped to a valid region."),
])
def test_credential_scope_must_name_the_service_and_region(service: str, region: str, server_region: str | None,
                                                           message: str) -> None:
    """A signature that is valid for its own scope is still refused when the scope is not this service's."""
    with pytest.raises(AuthError) as err:
        _verify(_signed(service=service, region=region), region=server_region)
    assert (err.value.code, err.value.status) == ("InvalidSignatureException", 403)
    assert message in err.value.message


@pytest.mark.parametrize(("region", "server_region"), [("eu-west-1", "eu-west-1"), ("ap-south-2", None)])
def test_matching_or_unchecked_region_is_accepted(region: str, server_region: str | None) -> None:
    _verify(_signed(region=region), region=server_region)
