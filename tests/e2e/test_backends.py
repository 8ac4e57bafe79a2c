"""The client layer against the real emulator: the same calls in process (--local) and over HTTP
(`emulator serve` on 127.0.0.1), built with ``from_options`` as the CLI builds it."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from reconciler.client.healthimaging import HealthImaging
from reconciler.emulator.knobs import EmulatorConfig
from reconciler.emulator.store import Store
from reconciler.errors import EndpointError, NotFound, StaleVersion
from reconciler.ratelimit import RetryPolicy
from tests.support.backends import from_options, start_server
from tests.support.forked import PREFIX, ForkedReconciler

FAST = {op: 1000.0 for op in ("GetImageSet", "GetImageSetMetadata", "UpdateImageSetMetadata",
                              "ListImageSetVersions", "SearchImageSets", "DeleteImageSet", "GetDatastore",
                              "ListDatastores")}
TINY_RETRY = RetryPolicy(max_attempts=8, base=0.001, cap=0.01, max_total=5.0)
MANY_VERSIONS = 55  # more than one ListImageSetVersions page of 50


def doc(n: int) -> dict[str, object]:
    return {"SchemaVersion": "1.1",
            "Patient": {"DICOM": {"PatientName": f"P^{n}", "PatientID": "PID-SHARED" if n < 3 else f"PID{n}"}},
            "Study": {"DICOM": {"StudyInstanceUID": f"1.2.3.{n}", "StudyDescription": "HEAD "},
                      "Series": {f"1.2.3.{n}.1": {"DICOM": {"Modality": "CT"},
                                                  "Instances": {f"1.2.3.{n}.1.1": {"DICOM": {"InstanceNumber": 1}}}}}}}


@pytest.fixture(autouse=True)
def no_aws_config(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No developer configuration or instance metadata service may influence these tests."""
    for name in ("AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_REGION", "AWS_DEFAULT_REGION", "AWS_ACCESS_KEY_ID",
                 "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_ENDPOINT_URL",
                 "AWS_ENDPOINT_URL_MEDICAL_IMAGING", "RECONCILER_LOCAL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-credentials"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")


@pytest.fixture
def store(tmp_path: Path) -> tuple[Path, str, list[str]]:
    """A store with 4 image sets; the first has MANY_VERSIONS versions."""
    directory = tmp_path / "store"
    s = Store(directory)
    ds = s.create_datastore("backends")
    ids = [f"{n:032x}" for n in range(1, 5)]
    for n, image_set_id in enumerate(ids, start=1):
        s.put_image_set(ds, image_set_id, doc(n), is_primary=False)  # Patient-level changes
    for _ in range(MANY_VERSIONS - 1):
        s.put_image_set(ds, ids[0], doc(1), replace=True)
    return directory, ds, ids


@pytest.fixture(params=["local", "http"])
def api(request: pytest.FixtureRequest, store: tuple[Path, str, list[str]]) -> Iterator[HealthImaging]:
    directory = store[0]
    if request.param == "local":
        yield from_options(local_dir=str(directory), rates=FAST)
        return
    server, thread, url = start_server(directory, EmulatorConfig())
    try:
        yield from_options(endpoint_url=url, rates=FAST)  # credentials default to test/test
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def test_reads_through_both_transports(api: HealthImaging, store: tuple[Path, str, list[str]]) -> None:
    _, ds, ids = store
    assert api.get_datastore(ds).status == "ACTIVE"
    assert ds in [d.datastore_id for d in api.list_datastores()]
    info = api.get_image_set(ds, ids[1])
    assert (info.version_id, info.state) == ("1", "ACTIVE")
    metadata = api.get_image_set_metadata(ds, ids[1], version=info.version_id)
    assert metadata["Patient"]["DICOM"]["PatientName"] == "P^2"
    assert metadata["Study"]["DICOM"]["StudyDescription"] == "HEAD "  # padding reaches the planner intact
    assert api.stats.calls() == {"GetDatastore": 1, "ListDatastores": 1, "GetImageSet": 1, "GetImageSetMetadata": 1}


def test_versions_are_listed_across_pages(api: HealthImaging, store: tuple[Path, str, list[str]]) -> None:
    _, ds, ids = store
    versions = [v.version_id for v in api.list_image_set_versions(ds, ids[0])]
    assert versions == [str(v) for v in range(MANY_VERSIONS, 0, -1)]
    assert api.stats["ListImageSetVersions"] == 2


def test_search_finds_every_match(api: HealthImaging, store: tuple[Path, str, list[str]]) -> None:
    _, ds, ids = store
    hits = list(api.search_image_sets(ds, "DICOMPatientId", "PID-SHARED"))
    assert sorted(h.image_set_id for h in hits) == sorted(ids[:2])
    assert all(isinstance(h.version, str) for h in hits)
    assert {h.image_set_id: h.version for h in hits}[ids[0]] == str(MANY_VERSIONS)


def test_guarded_update_then_stale_guard(api: HealthImaging, store: tuple[Path, str, list[str]]) -> None:
    _, ds, ids = store
    patch = json.dumps({"SchemaVersion": "1.1", "Study": {"DICOM": {"StudyDescription": "NEW"}}}).encode()
    result = api.update_image_set_metadata(ds, ids[2], "1", updatable=patch)
    assert result.latest_version_id == "2"
    assert api.get_image_set_metadata(ds, ids[2])["Study"]["DICOM"]["StudyDescription"] == "NEW"
    with pytest.raises(StaleVersion) as info:
        api.update_image_set_metadata(ds, ids[2], "1", updatable=patch)
    assert (info.value.planned_version, info.value.current_version) == ("1", "2")


def test_revert_and_missing_image_sets(api: HealthImaging, store: tuple[Path, str, list[str]]) -> None:
    _, ds, ids = store
    patch = json.dumps({"SchemaVersion": "1.1", "Patient": {"DICOM": {"PatientName": "Q^Q"}}}).encode()
    api.update_image_set_metadata(ds, ids[3], "1", updatable=patch)
    assert api.revert_image_set(ds, ids[3], "2", "1").latest_version_id == "3"
    assert api.get_image_set_metadata(ds, ids[3])["Patient"]["DICOM"]["PatientName"] == "P^4"
    with pytest.raises(NotFound):
        api.get_image_set(ds, "f" * 32)


@pytest.mark.parametrize("kind", ["throttle", "500", "drop"])
def test_faults_are_retried_and_never_reach_the_caller(kind: str, store: tuple[Path, str, list[str]]) -> None:
    directory, ds, ids = store
    config = EmulatorConfig(faults={"*": [(kind, 0.3)]}, seed=7)
    api = from_options(local_dir=str(directory), rates=FAST, retry=TINY_RETRY, emulator_config=config)
    for image_set_id in ids[1:]:
        info = api.get_image_set(ds, image_set_id)
        api.get_image_set_metadata(ds, image_set_id, version=info.version_id)
        patch = json.dumps({"SchemaVersion": "1.1", "Study": {"DICOM": {"StudyDescription": "X"}}}).encode()
        result = api.update_image_set_metadata(ds, image_set_id, info.version_id, updatable=patch)
        assert result.latest_version_id == "2"
    assert sum(api.stats.retries().values()) > 0  # the faults did fire and were absorbed


def test_dead_endpoint_fails_fast_with_bounded_attempts() -> None:
    api = from_options(endpoint_url="http://127.0.0.1:9", connect_timeout=0.5, read_timeout=0.5,
                                     retry=RetryPolicy(max_attempts=2, base=0.001, cap=0.001))
    with pytest.raises(EndpointError) as info:
        api.get_image_set("1" * 32, "a" * 32)
    assert "http://127.0.0.1:9" in str(info.value)
    assert api.stats["GetImageSet"] == 2


def test_one_client_serves_a_thread_pool(api: HealthImaging, store: tuple[Path, str, list[str]]) -> None:
    from concurrent.futures import ThreadPoolExecutor

    _, ds, ids = store
    work = [image_set_id for image_set_id in ids for _ in range(10)]
    with ThreadPoolExecutor(max_workers=8) as pool:
        versions = list(pool.map(lambda image_set_id: api.get_image_set(ds, image_set_id).version_id, work))
    assert versions == [str(MANY_VERSIONS) if i == ids[0] else "1" for i in work]
    assert api.stats["GetImageSet"] == len(work)


def test_through_a_real_emulator_serve_process(store: tuple[Path, str, list[str]]) -> None:
    """`reconciler emulator serve` as a user starts it, injecting 500s that the client absorbs."""
    import subprocess

    directory, ds, ids = store
    proc = ForkedReconciler(
        [*PREFIX, "emulator", "serve", "--local", str(directory), "--port", "0",
         "--fault", "GetImageSet=500:0.3"],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()  # "listening on http://127.0.0.1:PORT"
        url = line.strip().rsplit(" ", 1)[-1]
        assert url.startswith("http://127.0.0.1:")
        # the serve process has no fault seed: 12 attempts make a run of failures (0.3**12) negligible
        retry = RetryPolicy(max_attempts=12, base=0.001, cap=0.01, max_total=5.0)
        api = from_options(endpoint_url=url, rates=FAST, retry=retry)
        assert [api.get_image_set(ds, i).version_id for i in ids[1:]] == ["1", "1", "1"]
        assert api.stats["GetImageSet"] >= 3
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def test_the_cli_reports_a_dead_endpoint_in_one_line() -> None:
    import io

    from reconciler.cli import main
    from reconciler.commands._common import Streams

    out, err = io.StringIO(), io.StringIO()
    code = main(["history", "--datastore-id", "1" * 32, "--image-set-id", "a" * 32,
                 "--endpoint-url", "http://127.0.0.1:9"], Streams(out=out, err=err, inp=None))
    assert code == 1
    assert err.getvalue().startswith("error: cannot reach HealthImaging at http://127.0.0.1:9")
    assert "Traceback" not in err.getvalue() and err.getvalue().count("\n") == 1
