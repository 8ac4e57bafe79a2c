"""The HTTP transport with a stand-in handler: signing, size limits, drops, concurrency, logging."""

from __future__ import annotations

import http.client
import io
import json
import socket
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from urllib.parse import urlsplit

import boto3
import botocore.auth
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError, ConnectionClosedError

from reconciler.emulator.errors import NotFoundError
from reconciler.emulator.http import EmulatorHTTPServer, make_server
from reconciler.emulator.wire import DropConnection, WireRequest, WireResponse

DS = "12345678901234567890123456789012"


class StandIn:
    """Records what reaches the service and answers GetDatastore; behaviour switchable per test."""

    def __init__(self) -> None:
        self.seen: list[WireRequest] = []
        self.mode = "ok"
        self.barrier: threading.Barrier | None = None

    def __call__(self, req: WireRequest) -> WireResponse:
        self.seen.append(req)
        if self.barrier is not None:
            self.barrier.wait(timeout=120)  # a hang guard: the others may start slowly on a loaded machine
        if self.mode == "drop":
            raise DropConnection()
        if self.mode == "crash":
            raise RuntimeError("boom")
        if self.mode == "missing":
            raise NotFoundError(f"datastore {DS} not found")
        body = {"datastoreProperties": {"datastoreId": req.path.rsplit("/", 1)[-1], "datastoreName": "x",
                                        "datastoreStatus": "ACTIVE", "datastoreArn": "arn:x"}}
        return WireResponse(200, {"Content-Type": "application/json"}, json.dumps(body).encode())


@pytest.fixture
def standin() -> StandIn:
    return StandIn()


@pytest.fixture
def server(standin: StandIn) -> Iterator[EmulatorHTTPServer]:
    log = io.StringIO()
    srv = make_server(standin, max_body=4096, log=log)
    thread = threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield srv
    srv.shutdown()
    srv.server_close()
    thread.join(timeout=5)


def _client(url: str, secret: str = "test", key: str = "test", retries: int = 0) -> object:
    return boto3.client(
        "medical-imaging", region_name="us-east-1", endpoint_url=url,
        aws_access_key_id=key, aws_secret_access_key=secret,
        config=Config(inject_host_prefix=False, retries={"max_attempts": retries + 1, "mode": "standard"}),
    )


def _raw(server: EmulatorHTTPServer, method: str, path: str, headers: dict[str, str] | None = None,
         body: bytes = b"") -> tuple[int, dict[str, str], bytes]:
    host = urlsplit(server.url).netloc
    conn = http.client.HTTPConnection(host, timeout=60)
    conn.request(method, path, body=body, headers=headers or {})
    resp = conn.getresponse()
    out = resp.status, {k.lower(): v for k, v in resp.getheaders()}, resp.read()
    conn.close()
    return out


def test_signed_boto3_call_reaches_the_service(server: EmulatorHTTPServer, standin: StandIn) -> None:
    resp = _client(server.url).get_datastore(datastoreId=DS)  # type: ignore[attr-defined]
    assert resp["datastoreProperties"]["datastoreId"] == DS
    assert (standin.seen[0].method, standin.seen[0].path) == ("GET", f"/datastore/{DS}")


def test_query_is_decoded_for_the_service(server: EmulatorHTTPServer, standin: StandIn) -> None:
    standin.mode = "missing"
    with pytest.raises(ClientError):
        _client(server.url).list_image_set_versions(  # type: ignore[attr-defined]
            datastoreId=DS, imageSetId="a" * 32, maxResults=5, nextToken="a+b=/c")
    assert dict(standin.seen[0].query) == {"maxResults": "5", "nextToken": "a+b=/c"}


def test_service_error_keeps_its_code(server: EmulatorHTTPServer, standin: StandIn) -> None:
    standin.mode = "missing"
    with pytest.raises(ClientError) as err:
        _client(server.url).get_datastore(datastoreId=DS)  # type: ignore[attr-defined]
    assert err.value.response["Error"]["Code"] == "ResourceNotFoundException"
    assert err.value.response["ResponseMetadata"]["HTTPStatusCode"] == 404


def test_unsigned_request_is_refused(server: EmulatorHTTPServer, standin: StandIn) -> None:
    status, headers, body = _raw(server, "GET", f"/datastore/{DS}")
    assert (status, headers["x-amzn-errortype"]) == (403, "MissingAuthenticationTokenException")
    assert "message" in json.loads(body)
    assert standin.seen == []


@pytest.mark.parametrize(("key", "secret", "code"), [
    ("test", "wrong", "InvalidSignatureException"),
    ("intruder", "test", "UnrecognizedClientException"),
])
def test_mis_signed_request_is_refused(server: EmulatorHTTPServer, standin: StandIn,
                                       key: str, secret: str, code: str) -> None:
    with pytest.raises(ClientError) as err:
        _client(server.url, key=key, secret=secret).get_datastore(datastoreId=DS)  # type: ignore[attr-defined]
    assert err.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403
    assert err.value.response["Error"]["Code"] == code
    assert standin.seen == []


def test_stale_date_is_refused(server: EmulatorHTTPServer, standin: StandIn,
                               monkeypatch: pytest.MonkeyPatch) -> None:
    stale = datetime.now(UTC) - timedelta(minutes=20)
    monkeypatch.setattr(botocore.auth, "get_current_datetime", lambda: stale.replace(tzinfo=None))
    with pytest.raises(ClientError) as err:
        _client(server.url).get_datastore(datastoreId=DS)  # type: ignore[attr-defined]
    assert err.value.response["Error"]["Code"] == "InvalidSignatureException"
    assert "expired" in err.value.response["Error"]["Message"]
    assert standin.seen == []


def test_oversized_body_is_refused_unread(server: EmulatorHTTPServer, standin: StandIn) -> None:
    host = urlsplit(server.url).netloc
    conn = http.client.HTTPConnection(host, timeout=60)
    conn.putrequest("POST", f"/datastore/{DS}/searchImageSets")
    conn.putheader("Content-Length", str(50 * 1024 * 1024))
    conn.endheaders()  # the body is never sent: the answer must come anyway
    resp = conn.getresponse()
    assert resp.status == 413
    assert resp.getheader("x-amzn-ErrorType") == "ValidationException"
    assert resp.getheader("Connection") == "close"
    conn.close()
    assert standin.seen == []


def test_oversized_body_gets_no_100_continue(server: EmulatorHTTPServer, standin: StandIn) -> None:
    """A client that asks first ("Expect: 100-continue") is told 413 at once, not invited to send."""
    host, port = urlsplit(server.url).netloc.split(":")
    with socket.create_connection((host, int(port)), timeout=60) as sock:
        sock.sendall(f"POST /datastore HTTP/1.1\r\nHost: {host}\r\nContent-Length: {10**8}\r\n"
                     "Expect: 100-continue\r\n\r\n".encode())
        first_line = sock.makefile("rb").readline()
    assert first_line.startswith(b"HTTP/1.1 413 ")
    assert standin.seen == []


def test_unsigned_request_gets_no_100_continue(server: EmulatorHTTPServer, standin: StandIn) -> None:
    """Found by the raw-HTTP fuzz test: an unsigned request is refused, so it is never invited to send."""
    host, port = urlsplit(server.url).netloc.split(":")
    with socket.create_connection((host, int(port)), timeout=60) as sock:
        sock.sendall(f"GET /datastore HTTP/1.1\r\nHost: {host}\r\nContent-Length: 2\r\n"
                     "Expect: 100-continue\r\n\r\n{}".encode())
        first_line = sock.makefile("rb").readline()
    assert first_line.startswith(b"HTTP/1.1 403 ")
    assert standin.seen == []


def test_chunked_body_is_refused(server: EmulatorHTTPServer, standin: StandIn) -> None:
    status, _, _ = _raw(server, "POST", "/datastore", {"Transfer-Encoding": "chunked"}, b"")
    assert status == 400
    assert standin.seen == []


def test_drop_closes_without_answer(server: EmulatorHTTPServer, standin: StandIn) -> None:
    standin.mode = "drop"
    with pytest.raises(ConnectionClosedError):
        _client(server.url).get_datastore(datastoreId=DS)  # type: ignore[attr-defined]


def test_handler_crash_is_a_500_without_details(server: EmulatorHTTPServer, standin: StandIn) -> None:
    standin.mode = "crash"
    with pytest.raises(ClientError) as err:
        _client(server.url).get_datastore(datastoreId=DS)  # type: ignore[attr-defined]
    assert err.value.response["Error"]["Code"] == "InternalServerException"
    assert "boom" not in err.value.response["Error"]["Message"]


def test_concurrent_clients_are_served_at_once(server: EmulatorHTTPServer, standin: StandIn) -> None:
    standin.barrier = threading.Barrier(3)  # three requests must be inside the handler together
    results: list[str] = []

    def call() -> None:
        resp = _client(server.url).get_datastore(datastoreId=DS)  # type: ignore[attr-defined]
        results.append(resp["datastoreProperties"]["datastoreId"])

    threads = [threading.Thread(target=call) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()  # the barrier's own timeout ends a request that waits in vain
    assert results == [DS] * 3


def test_log_has_one_line_per_request_without_bodies(server: EmulatorHTTPServer) -> None:
    client = _client(server.url)
    client.get_datastore(datastoreId=DS)  # type: ignore[attr-defined]
    _raw(server, "POST", "/datastore", {"Content-Type": "application/json"}, b'{"PatientName":"SECRET^X"}')
    assert isinstance(server.log, io.StringIO)
    lines = server.log.getvalue().splitlines()
    assert lines == [f"GET /datastore/{DS} 200", "POST /datastore 403"]


def test_connection_errors_are_one_log_line_not_a_traceback(server: EmulatorHTTPServer,
                                                            capsys: pytest.CaptureFixture[str]) -> None:
    try:
        raise BrokenPipeError("client went away")
    except BrokenPipeError:
        server.handle_error(None, ("127.0.0.1", 1))
    assert isinstance(server.log, io.StringIO)
    assert server.log.getvalue() == "http: connection error (BrokenPipeError)\n"
    assert capsys.readouterr().err == ""
