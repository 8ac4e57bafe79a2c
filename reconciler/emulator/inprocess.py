"""The in-process transport: the emulator answers a real boto3 client at botocore's ``before-send`` hook.

botocore serialises the request as it would for AWS (signing included) and, instead of sending it,
hands it to this hook; the service core's answer goes back as an ``AWSResponse`` that botocore parses
as usual. So ``--local DIR`` exercises botocore's own serialisation and parsing with no network. The
same technique is what moto and botocore's Stubber build on.
"""

from __future__ import annotations

import io
import time
from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

import boto3
from botocore.awsrequest import AWSPreparedRequest, AWSResponse
from botocore.config import Config
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
    client: Any, store_dir: str, config: EmulatorConfig | None = None, clock: Callable[[], float] = time.time
) -> Service:
    """Make CLIENT (a boto3 ``medical-imaging`` client) talk to the emulator on the store in STORE_DIR.

    Returns the Service so tests can reach its store or knobs.
    """
    service = Service(Store(store_dir), config or EmulatorConfig(), clock=clock)
    client.meta.events.register(EVENT, make_handler(service), unique_id=f"reconciler-emulator-{id(client)}")
    return service


def make_local_client(
    store_dir: str,
    config: EmulatorConfig | None = None,
    region: str = "us-east-1",
    *,
    client_config: Config | None = None,
    clock: Callable[[], float] = time.time,
) -> Any:
    """A real boto3 client answered in process by the emulator on STORE_DIR (credentials test/test)."""
    client = boto3.client(
        "medical-imaging",
        region_name=region,
        aws_access_key_id=(config or EmulatorConfig()).access_key,
        aws_secret_access_key=(config or EmulatorConfig()).secret_key,
        config=client_config,
    )
    attach(client, store_dir, config, clock)
    return client
