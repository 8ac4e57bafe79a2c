"""Routing and the rest-json plumbing shared by the emulator's operations.

Paths, methods and parameter names are the ``medical-imaging`` 2023-07-19 service model's (see
botocore's ``service-2.json.gz``); only the ten operations the project uses are routed. Parameters
botocore does not check client-side (ID patterns, maxResults range, version digits, token shape) are
validated here and answered with 400 ValidationException, as the service does.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote

from reconciler.emulator.errors import ApiError, UnknownOperationError, ValidationError
from reconciler.emulator.wire import WireRequest, WireResponse

ID_RE = re.compile(r"[0-9a-z]{32}")
VERSION_RE = re.compile(r"\d{1,18}")
ACCOUNT = "123456789012"
REGION = "us-east-1"

_SEG = r"(?P<{}>[^/]+)"
_IMAGE_SET = "/datastore/" + _SEG.format("datastoreId") + "/imageSet/" + _SEG.format("imageSetId")

# (method, path regex, operation); first match wins.
ROUTES: tuple[tuple[str, re.Pattern[str], str], ...] = tuple(
    (method, re.compile("^" + path + "$"), op)
    for method, path, op in (
        ("POST", "/datastore", "CreateDatastore"),
        ("GET", "/datastore", "ListDatastores"),
        ("GET", "/datastore/" + _SEG.format("datastoreId"), "GetDatastore"),
        ("POST", _IMAGE_SET + "/getImageSet", "GetImageSet"),
        ("POST", _IMAGE_SET + "/getImageSetMetadata", "GetImageSetMetadata"),
        ("POST", _IMAGE_SET + "/updateImageSetMetadata", "UpdateImageSetMetadata"),
        ("POST", _IMAGE_SET + "/listImageSetVersions", "ListImageSetVersions"),
        ("POST", _IMAGE_SET + "/deleteImageSet", "DeleteImageSet"),
        ("POST", "/datastore/" + _SEG.format("datastoreId") + "/imageSet/" + _SEG.format("sourceImageSetId")
         + "/copyImageSet", "CopyImageSet"),
        ("POST", "/datastore/" + _SEG.format("datastoreId") + "/searchImageSets", "SearchImageSets"),
    )
)


@dataclass(frozen=True)
class Call:
    """One routed request: the operation, its path parameters and the request itself."""

    operation: str
    params: Mapping[str, str]
    request: WireRequest
    now: float
    fault: str | None = None

    @property
    def datastore_id(self) -> str:
        return require_id(self.params["datastoreId"], "datastoreId")

    @property
    def image_set_id(self) -> str:
        return require_id(self.params["imageSetId"], "imageSetId")

    def query(self, name: str) -> str | None:
        return self.request.query.get(name)

    def json_body(self) -> dict[str, Any]:
        """The JSON object body ({} when empty); anything else is a ValidationException."""
        if not self.request.body.strip():
            return {}
        try:
            body = json.loads(self.request.body)
        except (ValueError, UnicodeDecodeError, RecursionError):
            raise ValidationError("request body is not valid JSON") from None
        if not isinstance(body, dict):
            raise ValidationError("request body must be a JSON object")
        return body


def match(request: WireRequest) -> tuple[str, dict[str, str]]:
    """The operation and path parameters for a request, or UnknownOperationError (404).

    Routes match the still-encoded path when the transport gives it, and each parameter is decoded after
    matching: an ID holding an encoded "/" is then refused as an ID (400) instead of being split into
    path segments that might name another resource (``/datastore/D%2F`` is not datastore D).
    """
    raw = request.raw_path is not None
    # No trailing "/" is stripped: botocore never sends one, and "/datastore/" (an empty datastore ID)
    # must not become "/datastore" (CreateDatastore); found by the signed-request fuzz test.
    path = (request.raw_path if raw else request.path) or "/"
    for method, pattern, operation in ROUTES:
        found = pattern.match(path)
        if found and method == request.method.upper():
            params = found.groupdict()
            return operation, {k: unquote(v) for k, v in params.items()} if raw else params
    raise UnknownOperationError(f"no operation for {request.method.upper()} {request.path[:200]}")


# -- parameter validation --------------------------------------------------------------------------


def require_id(value: str, name: str) -> str:
    if not ID_RE.fullmatch(value):
        raise ValidationError(f"{name} must match [0-9a-z]{{32}}")
    return value


def version_param(value: str | None, name: str) -> int | None:
    """A version ID (digits) as an int; None when absent."""
    if value is None:
        return None
    if not VERSION_RE.fullmatch(value):
        raise ValidationError(f"{name} must be a version number (digits)")
    return int(value)


def max_results(call: Call, default: int = 50) -> int:
    raw = call.query("maxResults")
    if raw is None:
        return default
    if not re.fullmatch(r"-?\d{1,9}", raw) or not 1 <= int(raw) <= 50:
        raise ValidationError("maxResults must be between 1 and 50")
    return int(raw)


def bool_param(call: Call, name: str) -> bool:
    raw = call.query(name)
    if raw is None:
        return False
    if raw.lower() not in ("true", "false"):
        raise ValidationError(f"{name} must be true or false")
    return raw.lower() == "true"


# -- pagination -----------------------------------------------------------------------------------


def encode_token(offset: int, scope: str) -> str:
    """An opaque nextToken: the offset of the next page, bound to the listing it came from."""
    raw = json.dumps({"o": offset, "s": scope}).encode()
    return base64.urlsafe_b64encode(raw).decode()


def decode_token(call: Call, scope: str) -> int:
    """The offset a nextToken stands for (0 when absent); a foreign or garbled token is a 400."""
    raw = call.query("nextToken")
    if raw is None:
        return 0
    try:
        data = json.loads(base64.urlsafe_b64decode(raw.encode()))
        offset = data["o"]
        ok = data["s"] == scope and isinstance(offset, int) and offset >= 0
    except (ValueError, KeyError, TypeError, binascii.Error):
        ok = False
    if not ok:
        raise ValidationError("nextToken is not valid for this request")
    return int(offset)


def encode_after(after: tuple[Any, str], scope: str) -> str:
    """An opaque nextToken for keyset pagination: the sort value and ID of the last row of the page."""
    raw = json.dumps({"k": list(after), "s": scope}).encode()
    return base64.urlsafe_b64encode(raw).decode()


def decode_after(call: Call, scope: str) -> tuple[Any, str] | None:
    """The last row a nextToken stands for (None when absent); a foreign or garbled token is a 400."""
    raw = call.query("nextToken")
    if raw is None:
        return None
    try:
        data = json.loads(base64.urlsafe_b64decode(raw.encode()))
        value, last = data["k"]
        ok = data["s"] == scope and isinstance(last, str) and isinstance(value, str | int | float)
    except (ValueError, KeyError, TypeError, binascii.Error):
        ok = False
    if not ok:
        raise ValidationError("nextToken is not valid for this request")
    return value, last


def page(items: list[Any], call: Call, scope: str) -> tuple[list[Any], str | None]:
    """Slice ITEMS by the call's nextToken/maxResults; returns the page and the next token (or None)."""
    start = decode_token(call, scope)
    size = max_results(call)
    chunk = items[start : start + size]
    more = start + size < len(items)
    return chunk, (encode_token(start + size, scope) if more else None)


# -- responses ------------------------------------------------------------------------------------


def json_response(body: Mapping[str, Any], status: int = 200) -> WireResponse:
    data = json.dumps(_drop_none(body), separators=(",", ":")).encode()
    return WireResponse(status, {"Content-Type": "application/json", "Content-Length": str(len(data))}, data)


def error_response(error: ApiError) -> WireResponse:
    """rest-json error: status, ``x-amzn-ErrorType`` header and a ``{"message"}`` body."""
    data = json.dumps({"message": error.message}).encode()
    headers = {
        "Content-Type": "application/json",
        "Content-Length": str(len(data)),
        "x-amzn-ErrorType": error.code_name,
    }
    return WireResponse(error.http_status, headers, data)


def _drop_none(value: Any) -> Any:
    """Optional members are omitted, not sent as null (botocore would accept either; AWS omits)."""
    if isinstance(value, Mapping):
        return {k: _drop_none(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_drop_none(v) for v in value]
    return value


def image_set_arn(datastore_id: str, image_set_id: str | None = None, region: str = REGION) -> str:
    arn = f"arn:aws:medical-imaging:{region}:{ACCOUNT}:datastore/{datastore_id}"
    return arn + (f"/imageset/{image_set_id}" if image_set_id else "")
