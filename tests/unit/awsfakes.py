"""A scripted transport for the client-layer tests: real boto3 clients, answers given per request.

``ScriptedTransport`` hooks botocore's ``before-send`` event (as the in-process emulator does), so
serialisation, parsing and error handling are botocore's own; only the network is replaced. Each
scripted step is either an exception to raise (a dropped connection, a timeout) or an HTTP answer.
"""

from __future__ import annotations

import gzip
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote, urlsplit

import boto3
from botocore.awsrequest import AWSResponse
from botocore.config import Config

from reconciler.aws import HealthImaging
from reconciler.emulator import routes
from reconciler.emulator.errors import ApiError
from reconciler.emulator.wire import WireRequest
from reconciler.ratelimit import RateLimiter, RetryPolicy

DS = "1" * 32
IS = "a" * 32


class FakeClock:
    """A clock that only moves when someone sleeps; sleeps are recorded."""

    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


class _Raw:
    def __init__(self, body: bytes) -> None:
        self._body = body

    def stream(self, *args: Any, **kwargs: Any) -> Iterator[bytes]:
        yield self._body

    def read(self, *args: Any, **kwargs: Any) -> bytes:
        body, self._body = self._body, b""
        return body


@dataclass
class Answer:
    status: int = 200
    body: Any = field(default_factory=dict)  # dict -> JSON, bytes as is
    headers: dict[str, str] = field(default_factory=dict)


def error(code: str, status: int, message: str = "nope") -> Answer:
    return Answer(status, {"message": message}, {"x-amzn-ErrorType": code})


def metadata_answer(document: dict[str, Any], *, zipped: bool = True) -> Answer:
    raw = json.dumps(document).encode()
    headers = {"Content-Type": "application/json"}
    if zipped:
        raw = gzip.compress(raw)
        headers["Content-Encoding"] = "gzip"
    return Answer(200, raw, headers)


def image_set(version: str = "1", state: str = "ACTIVE", **extra: Any) -> dict[str, Any]:
    return {"datastoreId": DS, "imageSetId": IS, "versionId": version, "imageSetState": state, **extra}


class ScriptedTransport:
    """Answers requests in order from SCRIPT; records (operation, method, url, body) of each."""

    def __init__(self, client: Any, script: list[Answer | Exception]) -> None:
        self.script = list(script)
        self.requests: list[tuple[str, str, str, bytes]] = []
        client.meta.events.register("before-send.medical-imaging", self._send)

    def _send(self, request: Any, **kwargs: Any) -> AWSResponse:
        body = request.body or b""
        if not isinstance(body, bytes):
            body = body.read() if hasattr(body, "read") else str(body).encode()
        op = _operation(request.method, request.url)
        self.requests.append((op, request.method, request.url, body))
        if not self.script:
            raise AssertionError(f"unscripted request {request.method} {request.url}")
        step = self.script.pop(0)
        if isinstance(step, Exception):
            raise step
        raw = step.body if isinstance(step.body, bytes) else json.dumps(step.body).encode()
        return AWSResponse(request.url, step.status, dict(step.headers), _Raw(raw))


def _operation(method: str, url: str) -> str:
    """The operation a request is for, from its method and path alone (the service model's routes).

    Only the public parts of botocore's prepared request are used (method and URL); what botocore keeps
    elsewhere on it (``context`` and friends) changes between minor versions.
    """
    parts = urlsplit(url)
    wire = WireRequest(method=method, path=unquote(parts.path), query={}, headers={})
    try:
        return routes.match(wire)[0]
    except ApiError:
        return parts.path.rsplit("/", 1)[-1]


def make_client() -> Any:
    return boto3.client(
        "medical-imaging",
        region_name="us-east-1",
        aws_access_key_id="test",
        aws_secret_access_key="test",
        endpoint_url="http://emulator.invalid",
        config=Config(inject_host_prefix=False, retries={"total_max_attempts": 1}),
    )


def make_api(
    script: list[Answer | Exception], *, max_attempts: int = 4, max_total: float = 1e6
) -> tuple[HealthImaging, ScriptedTransport, FakeClock]:
    clock = FakeClock()
    client = make_client()
    transport = ScriptedTransport(client, script)
    api = HealthImaging(
        client,
        limiter=RateLimiter(clock=clock, sleep=clock.sleep),
        retry=RetryPolicy(max_attempts=max_attempts, base=0.5, cap=4.0, max_total=max_total),
        clock=clock,
        sleep=clock.sleep,
        rand=lambda: 1.0,
    )
    return api, transport, clock
