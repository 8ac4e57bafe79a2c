"""Hypothesis against the emulator's HTTP handlers (raw sockets) and its service core (``Service.handle``).

Random methods, paths, headers, bodies, encodings, huge and truncated bodies, bad Content-Length and
non-UTF-8 bytes: every answer is a rest-json error (or a closed connection), nothing ever carries a
traceback, the server keeps serving, and a refused request leaves the store exactly as it was.
"""

from __future__ import annotations

import dataclasses
import json
import socket
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import boto3
import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.config import Config
from botocore.credentials import Credentials
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from reconciler.emulator.http import EmulatorHTTPServer
from reconciler.emulator.knobs import EmulatorConfig
from reconciler.emulator.service import Service
from reconciler.emulator.store import Store
from reconciler.emulator.wire import WireRequest, WireResponse
from tests.support.backends import start_server
from tests.support.relenv import DS, document, image_set_id

IS = image_set_id(1)
SOCKET_TIMEOUT = 60.0  # a hang guard: an answer may come slowly on a loaded machine, but it must come
HTTP = settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck))
CORE = settings(max_examples=400, deadline=None, suppress_health_check=list(HealthCheck))

SEGMENTS = st.one_of(st.sampled_from([DS, IS, "1", "x" * 32, "", "..", "%2F", "%00", "%ff%fe", "é"]),
                     st.text(max_size=40))
ROUTES = st.sampled_from(["/datastore", "/datastore/{d}", "/datastore/{d}/imageSet/{i}/getImageSet",
                          "/datastore/{d}/imageSet/{i}/getImageSetMetadata",
                          "/datastore/{d}/imageSet/{i}/updateImageSetMetadata",
                          "/datastore/{d}/imageSet/{i}/listImageSetVersions",
                          "/datastore/{d}/imageSet/{i}/deleteImageSet", "/datastore/{d}/searchImageSets",
                          "/", "/{d}", "//datastore//", "/datastore/{d}/imageSet/{i}/../../x"])
QUERIES = st.one_of(st.just(""), st.sampled_from(["latestVersion=1", "version=1", "force=true", "maxResults=0",
                                                  "nextToken=%ff", "latestVersion=-1&latestVersion=2", "a",
                                                  "=&=&", "version=99999999999999999999"]),
                    st.text(max_size=30).map(lambda t: quote(t, safe="=&")))
JSON_BODIES = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False), st.text(max_size=20)),
    lambda c: st.one_of(st.lists(c, max_size=4), st.dictionaries(
        st.sampled_from(["datastoreName", "DICOMUpdates", "updatableAttributes", "removableAttributes",
                         "searchCriteria", "filters", "values", "operator", "revertToVersionId", "x"]), c,
        max_size=4)), max_leaves=20).map(lambda v: json.dumps(v).encode())
BODIES = st.one_of(st.just(b""), st.binary(max_size=300), JSON_BODIES,
                   st.text(max_size=100).map(lambda t: t.encode("utf-16")),
                   st.sampled_from([b"{" * 5000, b"[" * 100000, b'{"a":' * 3000, b"\xff\xfe\x00" * 50,
                                    b'{"DICOMUpdates": {"updatableAttributes": "!!not base64!!"}}']))


def _path(template: str, d: str, i: str) -> str:
    return template.replace("{d}", d).replace("{i}", i)


@st.composite
def raw_requests(draw: st.DrawFn) -> bytes:
    """One request as bytes, sometimes malformed anywhere: request line, headers, length, body."""
    method = draw(st.one_of(st.sampled_from(["GET", "POST", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS"]),
                            st.sampled_from(["", "G ET", "\xff", "POST\x00"]), st.text(max_size=8)))
    path = _path(draw(ROUTES), quote(draw(SEGMENTS), safe="%"), quote(draw(SEGMENTS), safe="%"))
    query = draw(QUERIES)
    target = path + ("?" + query if query else "")
    version = draw(st.sampled_from(["HTTP/1.1", "HTTP/1.0", "HTTP/9.9", "", "HTTP/1.1 extra"]))
    body = draw(BODIES)
    length = draw(st.sampled_from(["exact", "exact", "more", "less", "none", "-1", "abc", "huge", "dup"]))
    headers: list[tuple[bytes, bytes]] = [(b"Host", b"127.0.0.1")]
    sizes = {"exact": str(len(body)), "more": str(len(body) + 50), "less": str(max(0, len(body) - 3)),
             "-1": "-1", "abc": "abc", "huge": str(64 * 1024 * 1024)}
    if length in sizes:
        headers.append((b"Content-Length", sizes[length].encode()))
    elif length == "dup":
        headers += [(b"Content-Length", str(len(body)).encode()), (b"Content-Length", b"1")]
    extra = draw(st.lists(st.tuples(
        st.sampled_from([b"Authorization", b"X-Amz-Date", b"Content-Type", b"Transfer-Encoding", b"Expect",
                         b"Content-Encoding", b"X-Amz-Content-Sha256", b"X\xffBad", b"Connection"]),
        st.one_of(st.binary(max_size=60).filter(lambda b: b"\r" not in b and b"\n" not in b),
                  st.sampled_from([b"AWS4-HMAC-SHA256 Credential=test/20240101/us-east-1/medical-imaging/aws4_request,"
                                   b" SignedHeaders=host, Signature=" + b"0" * 64, b"chunked", b"gzip",
                                   b"100-continue", b"keep-alive", b"20240101T000000Z"]))), max_size=4))
    head = f"{method} {target} {version}".strip().encode("utf-8", "surrogateescape") + b"\r\n"
    head += b"".join(name + b": " + value + b"\r\n" for name, value in headers + extra)
    return head + b"\r\n" + body


def _responses(data: bytes) -> Iterator[tuple[int, dict[str, str], bytes]]:
    """Split what the server sent into (status, headers, body) answers."""
    while data:
        head, sep, rest = data.partition(b"\r\n\r\n")
        assert sep, f"incomplete answer {data[:200]!r}"
        lines = head.decode("latin-1").split("\r\n")
        assert lines[0].startswith("HTTP/1.1 "), lines[0]
        headers = {k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:])}
        size = int(headers.get("content-length", "0"))
        yield int(lines[0].split()[1]), headers, rest[:size]
        data = rest[size:]


def _exchange(port: int, raw: bytes) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=SOCKET_TIMEOUT) as sock:
        try:
            sock.sendall(raw)
            sock.shutdown(socket.SHUT_WR)
        except OSError:
            pass  # the server may refuse and close before reading everything (413): that is allowed
        chunks = []
        try:
            while chunk := sock.recv(65536):
                chunks.append(chunk)
        except ConnectionResetError:
            pass
        except TimeoutError:
            pytest.fail(f"no answer within {SOCKET_TIMEOUT} s to {raw[:200]!r}")
    return b"".join(chunks)


def snapshot(store: Store) -> tuple[Any, ...]:
    rows = store.list_versions(DS, IS, now=time.time())
    return (tuple((r.version, r.workflow_status) for r in rows), store.get_document(DS, IS),
            tuple(d.datastore_id for d in store.list_datastores()))


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[EmulatorHTTPServer, Store]]:
    store = Store(tmp_path_factory.mktemp("fuzz") / "store")
    store.ensure_datastore(DS)
    store.put_image_set(DS, IS, document(1))
    server, thread, _url = start_server(store.directory, EmulatorConfig())
    yield server, store
    server.shutdown()
    server.server_close()
    thread.join(timeout=5)


def _check_answers(data: bytes, signed: bool = False) -> list[int]:
    assert b"Traceback" not in data and b"File \"" not in data
    statuses = []
    for status, headers, body in _responses(data):
        statuses.append(status)
        if status >= 400:
            assert headers.get("content-type", "").startswith("application/json"), headers
            assert "x-amzn-errortype" in headers
            if body:  # a HEAD answer has none
                assert isinstance(json.loads(body)["message"], str)
        else:
            assert signed, f"an unsigned request was answered {status}"
    return statuses


@HTTP
@given(raw_requests())
def test_raw_http_garbage_gets_json_errors_and_changes_nothing(
    served: tuple[EmulatorHTTPServer, Store], raw: bytes
) -> None:
    server, store = served
    before = snapshot(store)
    _check_answers(_exchange(server.server_address[1], raw))
    assert snapshot(store) == before


def _signed(url: str, method: str, path: str, query: str, body: bytes, secret: str = "test") -> bytes:
    """A request signed the way botocore signs it (optionally with the wrong secret), as raw bytes."""
    req = AWSRequest(method=method, url=f"{url}{path}" + (f"?{query}" if query else ""), data=body,
                     headers={"Content-Type": "application/json"})
    SigV4Auth(Credentials("test", secret), "medical-imaging", "us-east-1").add_auth(req)
    prepared = req.prepare()
    target = prepared.url[len(url):]
    lines = [f"{method} {target} HTTP/1.1".encode(), f"Host: {url.split('//', 1)[1]}".encode()]
    lines += [f"{k}: {v}".encode("latin-1", "replace") for k, v in prepared.headers.items()]
    if "Content-Length" not in prepared.headers:
        lines.append(f"Content-Length: {len(body)}".encode())
    return b"\r\n".join(lines) + b"\r\n\r\n" + body


@HTTP
@given(st.sampled_from(["GET", "POST", "PUT", "DELETE"]), ROUTES, SEGMENTS, QUERIES, BODIES, st.booleans())
def test_signed_hostile_requests_reach_the_core_and_refusals_change_nothing(
    served: tuple[EmulatorHTTPServer, Store], method: str, route: str, segment: str, query: str, body: bytes,
    wrong_secret: bool,
) -> None:
    server, store = served
    seg = quote(segment, safe="")
    image_set = seg if len(segment) % 2 else IS  # a hostile image set ID half the time, else the real one
    path = _path(route, DS, image_set) if "{i}" in route else _path(route, seg, IS)
    if method == "POST" and (route == "/datastore" or "delete" in route):
        method = "PUT"  # a signed CreateDatastore or DeleteImageSet may rightly succeed: keep the store comparable
    before = snapshot(store)
    raw = _signed(server.url, method, path, query, body, secret="not-test" if wrong_secret else "test")
    statuses = _check_answers(_exchange(server.server_address[1], raw), signed=not wrong_secret)
    if wrong_secret:
        assert statuses == [403]
    if all(s >= 400 for s in statuses) or "update" not in path:
        assert snapshot(store) == before


def test_the_server_still_serves_after_the_fuzzing(served: tuple[EmulatorHTTPServer, Store]) -> None:
    server, _store = served
    client = boto3.client("medical-imaging", region_name="us-east-1", endpoint_url=server.url,
                          aws_access_key_id="test", aws_secret_access_key="test",
                          config=Config(inject_host_prefix=False, retries={"total_max_attempts": 1}))
    assert client.get_image_set(datastoreId=DS, imageSetId=IS)["imageSetId"] == IS
    for _ in range(3):  # and the fuzzed connections were all released
        assert _check_answers(_exchange(server.server_address[1], b"GARBAGE\r\n\r\n")) == [400]


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory) -> Service:
    store = Store(tmp_path_factory.mktemp("core") / "store")
    store.ensure_datastore(DS)
    store.put_image_set(DS, IS, document(1))
    return Service(store, EmulatorConfig())


MOSTLY_DS = st.one_of(st.just(DS), st.just(DS), SEGMENTS)
MOSTLY_IS = st.one_of(st.just(IS), st.just(IS), SEGMENTS)
WIRE = st.builds(
    WireRequest,
    method=st.one_of(st.just("POST"), st.just("POST"), st.sampled_from(["GET", "PUT", "DELETE"]), st.text(max_size=6)),
    path=st.one_of(st.builds(_path, ROUTES, MOSTLY_DS, MOSTLY_IS), st.builds(_path, ROUTES, MOSTLY_DS, MOSTLY_IS),
                   st.text(max_size=80)),
    query=st.dictionaries(st.sampled_from(["latestVersion", "version", "force", "maxResults", "nextToken", "x"]),
                          st.text(max_size=24), max_size=3),
    headers=st.dictionaries(st.sampled_from(["content-type", "content-encoding", "x-amz-date", "x"]),
                            st.text(max_size=20), max_size=2),
    body=BODIES,
)


@CORE
@given(WIRE)
def test_service_handle_answers_everything_with_json_and_refusals_change_nothing(
    service: Service, req: WireRequest
) -> None:
    if req.path.endswith("/deleteImageSet"):  # a valid DeleteImageSet rightly succeeds: keep the image set
        req = dataclasses.replace(req, method="DELETE")
    before = snapshot(service.store)
    response = service.handle(req)
    assert isinstance(response, WireResponse)
    assert b"Traceback" not in response.body
    if response.status >= 400:
        assert response.headers.get("x-amzn-ErrorType")
        assert isinstance(json.loads(response.body)["message"], str)
        assert response.status < 500, (req.method, req.path, response.body[:200])
        assert snapshot(service.store) == before
    elif "updateImageSetMetadata" in req.path:  # it did succeed: start afresh
        service.store.put_image_set(DS, IS, document(1), replace=True)


@pytest.mark.parametrize("size", [1024 * 1024 + 1, 8 * 1024 * 1024])
def test_huge_bodies_are_refused_before_they_are_read(served: tuple[EmulatorHTTPServer, Store], size: int) -> None:
    server, store = served
    before = snapshot(store)
    path = f"/datastore/{DS}/imageSet/{IS}/updateImageSetMetadata?latestVersion=1"
    raw = f"POST {path} HTTP/1.1\r\nHost: x\r\nContent-Length: {size}\r\n\r\n".encode() + b"A" * min(size, 65536)
    assert _check_answers(_exchange(server.server_address[1], raw)) == [413]
    assert snapshot(store) == before


def test_non_utf8_everywhere_is_answered(served: tuple[EmulatorHTTPServer, Store], tmp_path: Path) -> None:
    server, store = served
    before = snapshot(store)
    raw = b"POST /datastore/\xff\xfe/imageSet/\xc3\x28 HTTP/1.1\r\nHost: \xff\r\nX-Amz-Date: \xfe\r\n" \
          b"Content-Length: 4\r\n\r\n\xff\xfe\xfd\xfc"
    assert _check_answers(_exchange(server.server_address[1], raw)) == [403]
    assert snapshot(store) == before
