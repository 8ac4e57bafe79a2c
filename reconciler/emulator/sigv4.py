"""AWS Signature Version 4 verification for the emulator's HTTP transport.

The server recomputes the signature from the canonical request with the configured secret key, the
way AWS does (https://docs.aws.amazon.com/IAM/latest/UserGuide/create-signed-request.html), and
refuses what does not match. The canonical form follows botocore's signer (``botocore.auth.SigV4Auth``):
the URI path is percent-encoded once more, query pairs are sorted, header values are trimmed.
All refusals are 403, with the error codes the JSON services use. The credential scope must name the
service's signing name (``medical-imaging``, botocore's model) and the server's region, as AWS requires
(https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_sigv-troubleshooting.html); AWS words those
refusals "Credential should be scoped to correct service: '...'." and "Credential should be scoped to a
valid region.".
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from urllib.parse import quote, unquote

from reconciler.emulator.errors import ApiError

ALGORITHM = "AWS4-HMAC-SHA256"
SERVICE = "medical-imaging"  # the model's signingName
UNSIGNED_PAYLOAD = "UNSIGNED-PAYLOAD"
MAX_SKEW = timedelta(minutes=15)
_AMZ_DATE = "%Y%m%dT%H%M%SZ"
_AUTH_RE = re.compile(
    r"^AWS4-HMAC-SHA256\s+Credential=(?P<cred>[^,\s]+)\s*,\s*"
    r"SignedHeaders=(?P<signed>[^,\s]+)\s*,\s*Signature=(?P<sig>[0-9a-f]{64})\s*$"
)


class AuthError(ApiError):
    """The request is not (correctly) signed: 403."""

    http_status = 403

    def __init__(self, message: str, code: str) -> None:
        self.code_name = code
        super().__init__(message)


@dataclass(frozen=True)
class RawRequest:
    """What the signature covers, as received: the path and query still percent-encoded."""

    method: str
    raw_path: str
    raw_query: str
    headers: Mapping[str, str]  # lower-cased names; repeated headers joined with ","
    body: bytes


def verify(
    req: RawRequest,
    *,
    access_key: str,
    secret_key: str,
    now: datetime | None = None,
    max_skew: timedelta = MAX_SKEW,
    region: str | None = None,
    service: str = SERVICE,
) -> None:
    """Raise ``AuthError`` unless ``req`` carries a valid SigV4 signature by ``access_key``, scoped to
    ``service`` and (unless None) ``region``."""
    auth = req.headers.get("authorization")
    if not auth:
        raise AuthError("Missing Authentication Token", "MissingAuthenticationTokenException")
    m = _AUTH_RE.match(auth.strip())
    if not m:
        raise AuthError("Authorization header is not a well-formed AWS4-HMAC-SHA256 signature",
                        "IncompleteSignatureException")
    parts = m["cred"].split("/")
    if len(parts) != 5 or parts[4] != "aws4_request":
        raise AuthError("Credential should be scoped to a valid region and service",
                        "IncompleteSignatureException")
    key_id, scope_date, scope_region, scope_service, _ = parts
    if not hmac.compare_digest(key_id, access_key):
        raise AuthError("The security token included in the request is invalid.",
                        "UnrecognizedClientException")
    if scope_service != service:
        raise AuthError(f"Credential should be scoped to correct service: '{service}'. ",
                        "InvalidSignatureException")
    if region is not None and scope_region != region:
        raise AuthError("Credential should be scoped to a valid region. ", "InvalidSignatureException")
    amz_date = req.headers.get("x-amz-date", "")
    _check_date(amz_date, scope_date, now or datetime.now(UTC), max_skew)
    signed = m["signed"].split(";")
    if "host" not in signed:
        raise AuthError("The host header must be signed", "IncompleteSignatureException")
    canonical = canonical_request(req, signed)
    scope = "/".join(parts[1:])
    to_sign = "\n".join([ALGORITHM, amz_date, scope, _sha256_hex(canonical.encode())])
    expected = _signature(secret_key, scope_date, scope_region, scope_service, to_sign)
    if not hmac.compare_digest(expected, m["sig"]):
        raise AuthError(
            "The request signature we calculated does not match the signature you provided. "
            "Check your AWS Secret Access Key and signing method.",
            "InvalidSignatureException",
        )


def canonical_request(req: RawRequest, signed_headers: list[str]) -> str:
    """The SigV4 canonical request over the received request and the headers the client signed."""
    lines = [req.method.upper(), _canonical_uri(req.raw_path), _canonical_query(req.raw_query)]
    for name in signed_headers:
        if name not in req.headers:
            raise AuthError(f"Signed header {name!r} is missing from the request",
                            "IncompleteSignatureException")
        value = " ".join(req.headers[name].split())
        lines.append(f"{name}:{value}")
    lines.append("")
    lines.append(";".join(signed_headers))
    lines.append(_payload_hash(req))
    return "\n".join(lines)


def _check_date(amz_date: str, scope_date: str, now: datetime, max_skew: timedelta) -> None:
    try:
        when = datetime.strptime(amz_date, _AMZ_DATE).replace(tzinfo=UTC)
    except ValueError:
        raise AuthError("X-Amz-Date header is missing or not in the form YYYYMMDDTHHMMSSZ",
                        "IncompleteSignatureException") from None
    if amz_date[:8] != scope_date:
        raise AuthError("Credential date does not match X-Amz-Date", "InvalidSignatureException")
    if abs(now - when) > max_skew:
        raise AuthError(
            f"Signature expired: {amz_date} is outside the allowed {int(max_skew.total_seconds() // 60)} "
            f"minutes of the server time {now.strftime(_AMZ_DATE)}",
            "InvalidSignatureException",
        )


def _canonical_uri(raw_path: str) -> str:
    # botocore signs quote(path-as-sent, safe="/~"), i.e. the already-encoded path encoded again.
    return quote(raw_path or "/", safe="/~")


def _canonical_query(raw_query: str) -> str:
    pairs = []
    for item in raw_query.split("&") if raw_query else []:
        key, _, value = item.partition("=")
        pairs.append((quote(unquote(key), safe="-_.~"), quote(unquote(value), safe="-_.~")))
    return "&".join(f"{k}={v}" for k, v in sorted(pairs))


def _payload_hash(req: RawRequest) -> str:
    """x-amz-content-sha256 if given (it must match the body unless unsigned), else sha256 of the body."""
    actual = _sha256_hex(req.body)
    declared = req.headers.get("x-amz-content-sha256")
    if declared is None:
        return actual
    if declared != UNSIGNED_PAYLOAD and declared.lower() != actual:
        raise AuthError("The provided x-amz-content-sha256 header does not match the request body",
                        "InvalidSignatureException")
    return declared


def _signature(secret_key: str, date: str, region: str, service: str, to_sign: str) -> str:
    key = _hmac(f"AWS4{secret_key}".encode(), date)
    for part in (region, service, "aws4_request"):
        key = _hmac(key, part)
    return hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()


def _hmac(key: bytes, msg: str) -> bytes:
    return hmac.new(key, msg.encode(), hashlib.sha256).digest()


def _sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()
