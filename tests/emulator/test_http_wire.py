"""`emulator serve`'s HTTP transport on the real service: the signature's region and service are checked,
the server's own refusals carry a request ID, and bursts of connections fit in the listen backlog."""

from __future__ import annotations

import http.client
import json
import socket
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import boto3
import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.config import Config
from botocore.credentials import Credentials
from botocore.exceptions import ClientError
from emuhelpers import DS, IS, load_doc

from reconciler.emulator.http import EmulatorHTTPServer, make_server, start_server
from reconciler.emulator.knobs import EmulatorConfig
from reconciler.emulator.store import Store

BURST = 300


@pytest.fixture
def store(tmp_path: Path) -> Store:
    store = Store(tmp_path / "store")
    store.ensure_datastore(DS)
    store.put_image_set(DS, IS, load_doc("seed_examples.json"))
    return store


def _serve(store: Store, config: EmulatorConfig) -> Iterator[EmulatorHTTPServer]:
    server, thread, _url = start_server(store.directory, config)
    yield server
    server.shutdown()
    server.server_close()
    thread.join(timeout=10)


@pytest.fixture
def server(store: Store) -> Iterator[EmulatorHTTPServer]:
    yield from _serve(store, EmulatorConfig())


def _client(url: str, region: str = "us-east-1", **config: Any) -> Any:
    return boto3.client("medical-imaging", region_name=region, endpoint_url=url, aws_access_key_id="test",
                        aws_secret_access_key="test",
                        config=Config(inject_host_prefix=False, retries={"total_max_attempts": 1}, **config))


def test_signature_for_another_region_is_refused(server: EmulatorHTTPServer) -> None:
    with pytest.raises(ClientError) as err:
        _client(server.url, region="eu-west-1").get_image_set(datastoreId=DS, imageSetId=IS)
    response = err.value.response
    assert (response["Error"]["Code"], response["ResponseMetadata"]["HTTPStatusCode"]) == (
        "InvalidSignatureException", 403)
    assert "Credential should be scoped to a valid region" in response["Error"]["Message"]
    assert response["ResponseMetadata"]["RequestId"]


def test_region_knob_sets_the_region_the_server_accepts(store: Store) -> None:
    for server in _serve(store, EmulatorConfig(region="eu-west-1")):
        got = _client(server.url, region="eu-west-1").get_image_set(datastoreId=DS, imageSetId=IS)
        assert got["imageSetArn"].startswith("arn:aws:medical-imaging:eu-west-1:")
        with pytest.raises(ClientError) as err:
            _client(server.url).get_image_set(datastoreId=DS, imageSetId=IS)
        assert err.value.response["Error"]["Code"] == "InvalidSignatureException"


def _signed_for(service: str, url: str) -> tuple[int, dict[str, str], bytes]:
    """GetImageSet signed correctly, but for SERVICE, sent with http.client."""
    request = AWSRequest(method="POST", url=url, data=b"")
    SigV4Auth(Credentials("test", "test"), service, "us-east-1").add_auth(request)
    parts = urlsplit(url)
    conn = http.client.HTTPConnection(parts.netloc, timeout=30)
    conn.request("POST", parts.path, body=b"", headers=dict(request.headers.items()))
    response = conn.getresponse()
    answer = response.status, {k.lower(): v for k, v in response.getheaders()}, response.read()
    conn.close()
    return answer


def test_signature_for_another_service_is_refused(server: EmulatorHTTPServer) -> None:
    url = f"{server.url}/datastore/{DS}/imageSet/{IS}/getImageSet"
    status, headers, body = _signed_for("s3", url)
    assert (status, headers["x-amzn-errortype"]) == (403, "InvalidSignatureException")
    assert json.loads(body)["message"].startswith("Credential should be scoped to correct service: 'medical-imaging'.")
    assert headers["x-amzn-requestid"]
    assert _signed_for("medical-imaging", url)[0] == 200  # control: the same request for this service


@pytest.mark.parametrize(("method", "path", "headers"), [
    ("POST", f"/datastore/{DS}/imageSet/{IS}/getImageSet", {}),  # unsigned
    ("POST", f"/datastore/{DS}/imageSet/{IS}/getImageSet", {"Transfer-Encoding": "chunked"}),
    ("BREW", "/", {}),  # http.server's own refusal of an unknown method
])
def test_the_servers_own_refusals_carry_a_request_id(server: EmulatorHTTPServer, method: str, path: str,
                                                     headers: dict[str, str]) -> None:
    conn = http.client.HTTPConnection(urlsplit(server.url).netloc, timeout=30)
    conn.request(method, path, body=b"0\r\n\r\n" if headers else None, headers=headers)
    response = conn.getresponse()
    response.read()
    conn.close()
    assert response.status >= 400
    assert response.getheader("x-amzn-RequestId")


def test_listen_backlog_holds_a_burst_of_connections(store: Store) -> None:
    """With socketserver's backlog of 5, the seventh connect to a busy server waits for SYN retransmits."""
    server = make_server(lambda req: None, port=0)  # type: ignore[arg-type,return-value]  # bound, not serving
    try:
        host, port = server.server_address[:2]
        with ExitStack() as stack:
            for _ in range(200):
                stack.enter_context(socket.create_connection((str(host), port), timeout=10))
    finally:
        server.server_close()


def test_hundreds_of_concurrent_searches_all_succeed(server: EmulatorHTTPServer) -> None:
    client = _client(server.url, max_pool_connections=BURST, connect_timeout=20, read_timeout=120)
    client.get_datastore(datastoreId=DS)  # build the client's endpoint once, outside the burst

    def search(_: int) -> list[str]:
        answer = client.search_image_sets(datastoreId=DS, searchCriteria={})
        return [s["imageSetId"] for s in answer["imageSetsMetadataSummaries"]]

    with ThreadPoolExecutor(max_workers=BURST) as pool:
        results = list(pool.map(search, range(BURST), timeout=300))
    assert results == [[IS]] * BURST
