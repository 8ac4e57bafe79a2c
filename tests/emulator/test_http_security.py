"""Refused requests over HTTP leave the store exactly as it was (real service, real store)."""

from __future__ import annotations

import http.client
import json
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import boto3
import botocore.auth
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from reconciler.emulator.http import EmulatorHTTPServer
from reconciler.emulator.knobs import EmulatorConfig
from reconciler.emulator.store import Store
from tests.support.backends import start_server

DS = "12345678901234567890123456789012"
IS = "ea92b0d8838c72a3f25d00d13616f87e"
FIXTURE = Path(__file__).parents[1] / "conformance" / "data" / f"imageset_{IS}.json"
UPDATE_PATH = f"/datastore/{DS}/imageSet/{IS}/updateImageSetMetadata?latestVersion=1"
PAYLOAD = json.dumps({"SchemaVersion": 1.1, "Patient": {"DICOM": {"PatientName": "MX^MX"}}}).encode()


@pytest.fixture
def store(tmp_path: Path) -> Store:
    store = Store(tmp_path / "store")
    store.ensure_datastore(DS)
    # non-primary: the payload changes PatientName, which a primary image set refuses
    store.put_image_set(DS, IS, json.loads(FIXTURE.read_text()), is_primary=False)
    return store


@pytest.fixture
def server(store: Store) -> Iterator[EmulatorHTTPServer]:
    srv, thread, _url = start_server(store.directory, EmulatorConfig())
    yield srv
    srv.shutdown()
    srv.server_close()
    thread.join(timeout=5)


def _snapshot(store: Store) -> tuple[Any, ...]:
    version = store.get_version(DS, IS, now=time.time())
    return version.latest_version, store.get_document(DS, IS), [d.datastore_id for d in store.list_datastores()]


def _client(url: str, key: str = "test", secret: str = "test") -> Any:
    return boto3.client("medical-imaging", region_name="us-east-1", endpoint_url=url,
                        aws_access_key_id=key, aws_secret_access_key=secret,
                        config=Config(inject_host_prefix=False, retries={"total_max_attempts": 1}))


def _update(client: Any) -> Any:
    return client.update_image_set_metadata(
        datastoreId=DS, imageSetId=IS, latestVersionId="1",
        updateImageSetMetadataUpdates={"DICOMUpdates": {"updatableAttributes": PAYLOAD}})


def _status_of(call: Callable[[], Any]) -> int:
    try:
        call()
    except ClientError as exc:
        return int(exc.response["ResponseMetadata"]["HTTPStatusCode"])
    return 200


def _raw_post(url: str, path: str, body: bytes, headers: dict[str, str]) -> int:
    conn = http.client.HTTPConnection(urlsplit(url).netloc, timeout=60)
    conn.request("POST", path, body=body, headers=headers)
    status = conn.getresponse().status
    conn.close()
    return status


def unsigned_update(url: str, mp: pytest.MonkeyPatch) -> int:
    return _raw_post(url, UPDATE_PATH, json.dumps({"DICOMUpdates": {}}).encode(),
                     {"Content-Type": "application/json"})


def unsigned_create_datastore(url: str, mp: pytest.MonkeyPatch) -> int:
    return _raw_post(url, "/datastore", b'{"datastoreName": "x"}', {"Content-Type": "application/json"})


def wrong_secret(url: str, mp: pytest.MonkeyPatch) -> int:
    return _status_of(lambda: _update(_client(url, secret="not-the-secret")))


def unknown_access_key(url: str, mp: pytest.MonkeyPatch) -> int:
    return _status_of(lambda: _update(_client(url, key="AKIAINTRUDER")))


def stale_date(url: str, mp: pytest.MonkeyPatch) -> int:
    stale = (datetime.now(UTC) - timedelta(minutes=16)).replace(tzinfo=None)
    mp.setattr(botocore.auth, "get_current_datetime", lambda: stale)
    return _status_of(lambda: _update(_client(url)))


def oversized_body(url: str, mp: pytest.MonkeyPatch) -> int:
    conn = http.client.HTTPConnection(urlsplit(url).netloc, timeout=60)
    conn.putrequest("POST", UPDATE_PATH)
    conn.putheader("Content-Length", str(64 * 1024 * 1024))
    conn.endheaders()
    status = conn.getresponse().status
    conn.close()
    return status


@pytest.mark.parametrize(("attempt", "status"), [
    (unsigned_update, 403),
    (unsigned_create_datastore, 403),
    (wrong_secret, 403),
    (unknown_access_key, 403),
    (stale_date, 403),
    (oversized_body, 413),
])
def test_refused_request_leaves_the_store_unchanged(
    server: EmulatorHTTPServer, store: Store, monkeypatch: pytest.MonkeyPatch,
    attempt: Callable[[str, pytest.MonkeyPatch], int], status: int,
) -> None:
    before = _snapshot(store)
    assert attempt(server.url, monkeypatch) == status
    assert _snapshot(store) == before


def test_signed_update_does_change_the_store(server: EmulatorHTTPServer, store: Store) -> None:
    """The control for the test above: the same update, correctly signed, writes version 2."""
    before = _snapshot(store)
    assert _update(_client(server.url))["latestVersionId"] == "2"
    after = _snapshot(store)
    assert (before[0], after[0]) == (1, 2)
    assert after[1]["Patient"]["DICOM"]["PatientName"] == "MX^MX"
