"""The in-process transport: the emulator answers a real boto3 client at botocore's ``before-send`` hook.

botocore serialises the request as it would for AWS (signing included) and, instead of sending it,
hands it to this hook; the service core's answer goes back as an ``AWSResponse`` that botocore parses
as usual. So ``--local DIR`` exercises botocore's own serialisation and parsing with no network. The
same technique is what moto and botocore's Stubber build on. Only botocore's request and response
types are used here (an import-linter contract allows this module alone to); whoever builds the client
(``reconciler.local``, or the tests) attaches the emulator to it.
"""

from __future__ import annotations

import io
import time
from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

from botocore.awsrequest import AWSPreparedRequest, AWSResponse
from botocore.exceptions import ConnectionClosedError

from reconciler.emulator.knobs import EmulatorConfig
from reconciler.emulator.service import Service
from reconciler.emulator.store import Store
from reconciler.emulator.wire import DropConnection, WireRequest, WireResponse

EVENT = "before-send.medical-imaging"


class _RawBody(io.BytesIO):
    """The ``raw`` of an AWSResponse: botocore calls ``stream()`` for content, ``read()`` for blobs."""

    def stream(self, amt: int = 65536, decode_content: bool = False) -> Iterator[bytes]:
        while chunk := self.read(amt):
            yield chunk


def to_wire(request: AWSPreparedRequest) -> WireRequest:
    """A botocore prepared request as the service core's WireRequest."""
    parts = urlsplit(request.url)
    body = request.body
    if body is None:
        data = b""
    elif isinstance(body, bytes | bytearray):
        data = bytes(body)
    elif isinstance(body, str):
        data = body.encode("utf-8")
    else:  # a file-like body
        data = body.read()
    headers = {str(k).lower(): (v.decode() if isinstance(v, bytes) else str(v)) for k, v in request.headers.items()}
    return WireRequest(
        method=request.method.upper(),
        path=unquote(parts.path),
        query=dict(parse_qsl(parts.query, keep_blank_values=True)),
        headers=headers,
        body=data,
        raw_path=parts.path,
    )


def to_aws_response(url: str, response: WireResponse) -> AWSResponse:
    return AWSResponse(url, response.status, dict(response.headers), _RawBody(response.body))


def make_handler(service: Service) -> Callable[..., AWSResponse]:
    """The ``before-send`` handler that answers every request from SERVICE."""

    def handler(request: AWSPreparedRequest, **_: Any) -> AWSResponse:
        try:
            answer = service.handle(to_wire(request))
        except DropConnection:
            raise ConnectionClosedError(endpoint_url=request.url) from None
        return to_aws_response(request.url, answer)

    return handler


def attach(
    client: Any, store_dir: str, config: EmulatorConfig | None = None, clock: Callable[[], float] = time.time,
    *, rate_clock: Callable[[], float] = time.monotonic,
) -> Service:
    """Make CLIENT (a boto3 ``medical-imaging`` client) talk to the emulator on the store in STORE_DIR, with
    the limits, lock time and faults of CONFIG, as ``emulator serve`` would (RATE_CLOCK: the clock of its
    rate limits, so a test of the client's pacing can run both on one fake clock, with no socket).

    Returns the Service so tests can reach its store or knobs.
    """
    service = Service(Store(store_dir), config or EmulatorConfig(), clock=clock, rate_clock=rate_clock)
    client.meta.events.register(EVENT, make_handler(service), unique_id=f"reconciler-emulator-{id(client)}")
    return service

