"""Wire details found by running SDKs against the emulator: millisecond timestamps, a request ID on
every answer, and an encoded "/" in an ID that must not reach another resource (both transports)."""

from __future__ import annotations

import re
import sqlite3
from typing import Any

import pytest
from botocore.exceptions import ClientError
from conftest import FakeClock
from emuhelpers import DS, IS, error_code, load_doc, update

from reconciler.emulator.store import Store

MICRO = 1_700_000_000.123456  # a clock with sub-millisecond digits
TIMESTAMP = re.compile(r'"(createdAt|updatedAt|deletedAt|lastAccessedAt)":(-?[0-9.eE+]+)')


@pytest.fixture
def micro_clock() -> FakeClock:
    return FakeClock(MICRO)


@pytest.fixture
def micro(transport: Any, store_dir: Any, store: Store, micro_clock: FakeClock) -> Any:
    """IS created at a time with microseconds; a client whose emulator clock has microseconds too."""
    store.ensure_datastore(DS, now=micro_clock())
    store.put_image_set(DS, IS, load_doc("seed_examples.json"), is_primary=False, now=micro_clock())
    return transport(store_dir, None, micro_clock)


def _raw_bodies(client: Any) -> list[bytes]:
    """Every response body botocore receives from now on, as sent."""
    bodies: list[bytes] = []
    client.meta.events.register("after-call.medical-imaging",
                                lambda http_response, **_: bodies.append(http_response.content))
    return bodies


def _decimals(body: bytes) -> list[int]:
    return [len(m.group(2).partition(".")[2]) for m in TIMESTAMP.finditer(body.decode())]


def test_timestamps_carry_milliseconds_not_microseconds(micro: Any, micro_clock: FakeClock) -> None:
    bodies = _raw_bodies(micro)
    micro_clock.advance(0.000333)  # .123456 + .000333 = .123789
    update(micro, {"Study": {"DICOM": {"StudyDescription": "HEAD"}}})
    micro.get_image_set(datastoreId=DS, imageSetId=IS)
    micro.list_image_set_versions(datastoreId=DS, imageSetId=IS)
    micro.search_image_sets(datastoreId=DS, searchCriteria={})
    micro.get_datastore(datastoreId=DS)
    micro.list_datastores()
    counts = [_decimals(body) for body in bodies]
    assert all(counts) and all(d <= 3 for c in counts for d in c), counts
    got = micro.get_image_set(datastoreId=DS, imageSetId=IS)
    assert (got["createdAt"].microsecond, got["updatedAt"].microsecond) == (123_000, 124_000)


@pytest.mark.parametrize("field", ["createdAt", "updatedAt"])
def test_between_t_and_t_with_a_value_read_back_finds_the_image_set(micro: Any, micro_clock: FakeClock,
                                                                     field: str) -> None:
    micro_clock.advance(0.000333)
    update(micro, {"Study": {"DICOM": {"StudyDescription": "HEAD"}}})
    t = micro.get_image_set(datastoreId=DS, imageSetId=IS)[field]
    criteria = {"filters": [{"operator": "BETWEEN", "values": [{field: t}, {field: t}]}]}
    found = micro.search_image_sets(datastoreId=DS, searchCriteria=criteria)["imageSetsMetadataSummaries"]
    assert [s["imageSetId"] for s in found] == [IS]
    assert found[0][field] == t


def test_a_store_written_with_microseconds_is_answered_in_milliseconds(micro: Any, store: Store) -> None:
    """Stores made by earlier versions hold microseconds; answers and searches still use milliseconds."""
    with sqlite3.connect(store.path) as conn:
        conn.execute("UPDATE image_sets SET created_at = ?", (MICRO,))
    bodies = _raw_bodies(micro)
    t = micro.get_image_set(datastoreId=DS, imageSetId=IS)["createdAt"]
    assert all(d <= 3 for d in _decimals(bodies[0]))
    criteria = {"filters": [{"operator": "BETWEEN", "values": [{"createdAt": t}, {"createdAt": t}]}]}
    assert micro.search_image_sets(datastoreId=DS, searchCriteria=criteria)["imageSetsMetadataSummaries"]


def test_every_answer_has_a_request_id(client: Any) -> None:
    ids = [client.get_image_set(datastoreId=DS, imageSetId=IS)["ResponseMetadata"]["RequestId"],
           client.get_datastore(datastoreId=DS)["ResponseMetadata"]["RequestId"]]
    for call in (lambda: client.get_image_set(datastoreId=DS, imageSetId="f" * 32),   # 404
                 lambda: client.get_image_set(datastoreId=DS, imageSetId="NOT-AN-ID"),  # 400
                 lambda: update(client, {"Study": {"DICOM": {"StudyDescription": "X"}}}, version="9")):  # 409
        with pytest.raises(ClientError) as err:
            call()
        ids.append(err.value.response["ResponseMetadata"]["RequestId"])
        assert err.value.response["ResponseMetadata"]["HTTPHeaders"]["x-amzn-requestid"] == ids[-1]
    assert all(re.fullmatch(r"[0-9a-f-]{36}", i) for i in ids), ids
    assert len(set(ids)) == len(ids)


@pytest.mark.parametrize("call", [
    lambda c: c.get_datastore(datastoreId=DS + "/"),
    lambda c: c.get_datastore(datastoreId=DS[:16] + "/" + DS[16:]),
    lambda c: c.get_image_set(datastoreId=DS, imageSetId=IS + "/"),
    lambda c: c.list_image_set_versions(datastoreId=DS + "/imageSet/" + IS, imageSetId=IS),
    lambda c: c.search_image_sets(datastoreId=DS + "/", searchCriteria={}),
], ids=["trailing", "inside", "image-set-trailing", "path-injection", "search"])
def test_an_encoded_slash_in_an_id_is_not_decoded_before_routing(client: Any, call: Any) -> None:
    """``/datastore/D%2F`` names no datastore: before, it was decoded to ``/datastore/D/`` and answered as D."""
    with pytest.raises(ClientError) as err:
        call(client)
    status = err.value.response["ResponseMetadata"]["HTTPStatusCode"]
    assert 400 <= status < 500
    assert error_code(err.value) in ("ValidationException", "ResourceNotFoundException", "UnknownOperationException")
    assert client.get_datastore(datastoreId=DS)["datastoreProperties"]["datastoreId"] == DS  # control


def test_the_encoded_form_reaches_the_service_raw(client: Any) -> None:
    """Control for the test above: botocore does send the slash encoded (so the emulator is what decides)."""
    urls: list[str] = []
    client.meta.events.register("before-sign.medical-imaging.GetDatastore",
                                lambda request, **_: urls.append(request.url))
    with pytest.raises(ClientError):
        client.get_datastore(datastoreId=DS + "/")
    assert urls[0].endswith(f"/datastore/{DS}%2F")


@pytest.mark.parametrize(("method", "path"), [("POST", "/datastore/"), ("GET", "/datastore/"),
                                              ("GET", f"/datastore/{DS}/")])
def test_a_trailing_slash_routes_nowhere(method: str, path: str) -> None:
    """``POST /datastore/`` (an empty datastore ID) is not CreateDatastore; found by the signed-request fuzz test."""
    from reconciler.emulator import routes
    from reconciler.emulator.errors import UnknownOperationError
    from reconciler.emulator.wire import WireRequest

    with pytest.raises(UnknownOperationError):
        routes.match(WireRequest(method=method, path=path, query={}, headers={}))
