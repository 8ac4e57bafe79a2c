"""Translation of botocore failures into ``reconciler.errors``, and which failures are worth a retry.

Part of the client layer (``reconciler.client.healthimaging`` is its main user). Messages name the
operation, IDs and the endpoint, never request bodies or attribute values; the service's own message is shortened,
since a response body may echo data.
"""

from __future__ import annotations

import gzip
import json
import re
import zlib
from collections.abc import Sequence
from typing import Any

from botocore import exceptions as bce

from reconciler.client.backends import BackendOptions
from reconciler.errors import (
    CredentialsError,
    EndpointError,
    NotFound,
    ReconcilerError,
    ServiceError,
    Throttled,
    UsageError,
)

THROTTLE = "throttle"  # refused before any work: safe to resend
UNSENT = "unsent"  # the connection never carried the request: safe to resend
AMBIGUOUS = "ambiguous"  # the service may have acted on it (dropped connection, timeout, 5xx)

THROTTLE_CODES = frozenset(
    {"ThrottlingException", "Throttling", "ThrottledException", "TooManyRequestsException",
     "RequestLimitExceeded", "SlowDown", "RequestThrottled", "RequestThrottledException"}
)
CREDENTIAL_CODES = frozenset(
    {"AccessDeniedException", "AccessDenied", "ExpiredToken", "ExpiredTokenException",
     "UnrecognizedClientException", "InvalidSignatureException", "SignatureDoesNotMatch",
     "InvalidClientTokenId", "MissingAuthenticationTokenException", "IncompleteSignatureException",
     "AuthFailure", "UnauthorizedOperation"}
)
NOT_FOUND_CODES = frozenset({"ResourceNotFoundException", "NotFoundException"})
_CREDENTIAL_EXCEPTIONS = (
    bce.NoCredentialsError,
    bce.PartialCredentialsError,
    bce.CredentialRetrievalError,
    bce.NoAuthTokenError,
    bce.TokenRetrievalError,
    bce.SSOError,
    bce.UnknownCredentialError,
)
MESSAGE_LIMIT = 200


def retry_kind(exc: Exception) -> str | None:
    """THROTTLE, UNSENT or AMBIGUOUS when EXC is worth another attempt, else None."""
    if isinstance(exc, bce.ClientError):
        code, status, _ = _client_error_parts(exc)
        if code in THROTTLE_CODES or status == 429:
            return THROTTLE
        return AMBIGUOUS if status >= 500 else None
    if isinstance(exc, bce.SSLError):
        return None  # a certificate problem does not heal by retrying
    if isinstance(exc, bce.EndpointConnectionError | bce.ConnectTimeoutError | bce.ProxyConnectionError):
        return UNSENT
    if isinstance(exc, bce.HTTPClientError | bce.IncompleteReadError | bce.ConnectionError):
        return AMBIGUOUS  # ConnectionClosedError, ReadTimeoutError, ResponseStreamingError, ...
    return None


def translate(
    exc: Exception, op: str, context: str, endpoint: str, attempts: int, sent: Sequence[str] = ()
) -> ReconcilerError:
    """The reconciler error for a botocore failure of OP on CONTEXT (e.g. "image set X in datastore Y").

    SENT are the values the request carried (patient data): a service message echoing one is scrubbed.
    """
    if isinstance(exc, bce.ClientError):
        return _translate_client_error(exc, op, context, attempts, sent)
    if isinstance(exc, _CREDENTIAL_EXCEPTIONS):
        return CredentialsError(
            f"{op} for {context}: no usable AWS credentials ({type(exc).__name__})",
            code=type(exc).__name__,
            hint="set AWS_PROFILE or --profile, run `aws configure`, or use --local DIR for the emulator",
        )
    if isinstance(exc, bce.SSLError | bce.ConnectionError | bce.HTTPClientError | bce.IncompleteReadError):
        tries = f" after {attempts} attempt{'s' if attempts != 1 else ''}"
        return EndpointError(
            f"cannot reach HealthImaging at {endpoint} for {op} ({context}): {_connection_label(exc)}{tries}",
            code=type(exc).__name__,
            hint="check --endpoint-url, --region and the network",
        )
    if isinstance(exc, bce.ParamValidationError):
        names = sorted(set(re.findall(r"parameter (\w+)", str(exc))))
        which = f" (parameters: {', '.join(names)})" if names else ""
        return ServiceError(f"{op} request for {context} is invalid{which}", code="ParamValidationError")
    if isinstance(exc, bce.NoRegionError):
        return UsageError("no AWS region configured", hint="pass --region or set AWS_REGION")
    return ServiceError(f"{op} failed for {context}: {type(exc).__name__}", code=type(exc).__name__)


def _translate_client_error(
    exc: bce.ClientError, op: str, context: str, attempts: int, sent: Sequence[str]
) -> ReconcilerError:
    code, status, message = _client_error_parts(exc)
    message = scrub(message, sent)
    said = f": {message}" if message else ""
    if code in NOT_FOUND_CODES or (status == 404 and code in ("", "404")):
        return NotFound(f"{op}: {context} not found{said}", code=code, status=status)
    if code in CREDENTIAL_CODES or status == 401:
        return CredentialsError(
            f"{op} for {context} was refused: {code} (HTTP {status}){said}",
            code=code,
            status=status,
            hint="check the credentials, profile and region, and the IAM permissions for medical-imaging",
        )
    if code in THROTTLE_CODES or status == 429:
        return Throttled(
            f"{op} for {context} was still throttled after {attempts} attempts",
            code=code,
            status=status,
            hint="lower --rate or --parallelism, or ask AWS Support for a higher quota",
        )
    return ServiceError(f"{op} failed for {context}: {code} (HTTP {status}){said}", code=code, status=status)


def _client_error_parts(exc: bce.ClientError) -> tuple[str, int, str]:
    response: dict[str, Any] = getattr(exc, "response", None) or {}
    error = response.get("Error") or {}
    code = str(error.get("Code") or "")
    try:
        status = int((response.get("ResponseMetadata") or {}).get("HTTPStatusCode") or 0)
    except (TypeError, ValueError):
        status = 0
    if not code and status:
        code = str(status)
    return code, status, _shorten(str(error.get("Message") or ""))


def scrub(message: str, values: Sequence[str]) -> str:
    """MESSAGE with every occurrence of one of VALUES (as a whole token) replaced by ``<redacted>``."""
    for value in sorted({v for v in values if v.strip()}, key=len, reverse=True):
        message = re.sub(rf"(?<!\w){re.escape(value)}(?!\w)", "<redacted>", message)
    return message


def sent_values(*blobs: bytes | str | None) -> list[str]:
    """The leaf values of JSON request payloads (and plain strings), for ``scrub``."""
    found: list[str] = []

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            for child in node.values():
                walk(child)
        elif isinstance(node, list):
            for child in node:
                walk(child)
        elif node is not None and not isinstance(node, bool):
            found.append(str(node))

    for blob in blobs:
        if blob is None:
            continue
        if isinstance(blob, str):
            found.append(blob)
            continue
        try:
            walk(json.loads(blob))
        except (ValueError, UnicodeDecodeError):
            continue  # not JSON: the service will say so without echoing it
    return found


def code_of(exc: Exception) -> str:
    """The service's error code, or the exception's class name (for logs: never the message)."""
    if isinstance(exc, bce.ClientError):
        return _client_error_parts(exc)[0]
    return type(exc).__name__


def _shorten(message: str) -> str:
    text = " ".join(message.split())
    return text if len(text) <= MESSAGE_LIMIT else text[: MESSAGE_LIMIT - 3] + "..."


def _connection_label(exc: Exception) -> str:
    labels = (
        (bce.ConnectTimeoutError, "connect timeout"),
        (bce.ReadTimeoutError, "read timeout"),
        (bce.SSLError, "TLS error"),
        (bce.EndpointConnectionError, "connection failed"),
        (bce.ConnectionClosedError, "connection closed"),
        (bce.ProxyConnectionError, "proxy connection failed"),
    )
    for cls, label in labels:
        if isinstance(exc, cls):
            return label
    return "transfer failed"


def setup_error(exc: Exception, options: BackendOptions) -> ReconcilerError:
    """A failure while building the client (profile, region, configuration)."""
    if isinstance(exc, bce.ProfileNotFound):
        return UsageError(f"AWS profile {options.profile!r} not found", hint="see `aws configure list-profiles`")
    if isinstance(exc, bce.NoRegionError):
        return UsageError("no AWS region configured", hint="pass --region or set AWS_REGION")
    if isinstance(exc, _CREDENTIAL_EXCEPTIONS):
        return CredentialsError(f"no usable AWS credentials ({type(exc).__name__})", code=type(exc).__name__)
    return UsageError(f"cannot set up the HealthImaging client for the {options.kind} backend ({type(exc).__name__})")


def decode_metadata(raw: bytes, encoding: str, context: str) -> dict[str, Any]:
    """Gunzip (when the bytes are gzip) and parse a GetImageSetMetadata body.

    The service sends gzip with ``Content-Encoding: gzip`` and botocore does not decode it; a proxy
    may have decoded it already, so the gzip magic decides, not the header alone.
    """
    data = raw
    if raw[:2] == b"\x1f\x8b":
        try:
            data = gzip.decompress(raw)
        except (OSError, EOFError, zlib.error):
            raise ServiceError(
                f"GetImageSetMetadata for {context} returned a corrupt gzip body", code="BadMetadata"
            ) from None
    elif encoding.lower() == "gzip" and raw[:1] not in (b"{", b" ", b"\n"):
        raise ServiceError(f"GetImageSetMetadata for {context} returned an undecodable body", code="BadMetadata")
    try:
        document = json.loads(data)
    except (ValueError, UnicodeDecodeError):
        raise ServiceError(
            f"GetImageSetMetadata for {context} returned a body that is not JSON", code="BadMetadata"
        ) from None
    if not isinstance(document, dict):
        raise ServiceError(f"GetImageSetMetadata for {context} returned a non-object document", code="BadMetadata")
    return document

