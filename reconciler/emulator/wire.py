"""The transport-neutral request/response the emulator's service core speaks.

Both transports (in process, via a botocore ``before-send`` hook, and HTTP, via ``emulator serve``)
turn what they receive into a ``WireRequest``, call ``Service.handle`` and send back the
``WireResponse`` bytes unchanged, so serialisation and parsing on the client side are botocore's own.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field


@dataclass(frozen=True)
class WireRequest:
    method: str  # "GET", "POST", "DELETE"
    path: str  # URL path, percent-decoded, without the query string
    query: Mapping[str, str]  # query parameters (last value wins)
    headers: Mapping[str, str]  # header names lower-cased
    body: bytes = b""
    # The path as received, still percent-encoded. Routing splits this one into segments, so that an
    # encoded "/" (%2F) inside an ID stays inside its segment instead of making a new one.
    raw_path: str | None = None


@dataclass(frozen=True)
class WireResponse:
    status: int
    headers: Mapping[str, str] = field(default_factory=dict)
    body: bytes = b""


class DropConnection(Exception):
    """Raised by the service core when a ``drop`` fault fires: the transport must close the connection
    without answering (HTTP) or raise botocore's ConnectionClosedError (in process)."""
