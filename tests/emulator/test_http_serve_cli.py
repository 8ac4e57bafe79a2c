"""`reconciler emulator serve`: bad flags and an unusable port are one-line errors with exit 1; the
server prints its URL and stops cleanly on SIGTERM and SIGINT (serving itself: tests/conformance)."""

from __future__ import annotations

import io
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from reconciler.cli import main
from reconciler.commands._common import Streams


def _run(argv: list[str]) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = main(argv, Streams(out=out, err=err, inp=None))
    return code, out.getvalue(), err.getvalue()


@pytest.mark.parametrize(("flags", "mentions"), [
    (["--rate", "UpdateImageSetMetadata"], "--rate"),
    (["--rate", "GetImageSet=fast"], "--rate"),
    (["--rate", "GetImageSet=0"], "--rate"),
    (["--rate", "UpdateImageSetMetadata=1:0"], "BURST"),
    (["--rate", "UpdateImageSetMetadata=1:many"], "BURST"),
    (["--fault", "GetImageSet=explode:0.5"], "--fault"),
    (["--fault", "GetImageSet=500:2"], "--fault"),
    (["--lock-seconds", "-1"], "--lock-seconds"),
    (["--lock-seconds", "soon"], "--lock-seconds"),
    (["--port", "70000"], "--port"),
    (["--blob-limit", "0"], "--blob-limit"),
    (["--archive-after", "-1"], "--archive-after"),
    (["--archive-after", "nan"], "--archive-after"),
    (["--region", "nowhere"], "--region"),
])
def test_bad_flags_are_one_line_errors(tmp_path: Path, flags: list[str], mentions: str) -> None:
    code, out, err = _run(["emulator", "serve", "--local", str(tmp_path), "--port", "0", *flags])
    assert (code, out) == (1, "")
    assert err.startswith("error: ") and err.count("\n") == 1
    assert mentions in err


def test_port_in_use_is_an_error(tmp_path: Path) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        code, out, err = _run(["emulator", "serve", "--local", str(tmp_path), "--init", "--port", str(port)])
    assert (code, out) == (1, "")
    assert err.startswith(f"error: cannot listen on 127.0.0.1:{port}")


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_serve_stops_cleanly_on_signal(tmp_path: Path, sig: signal.Signals) -> None:
    store = tmp_path / "new"  # --init creates the store (and its directory)
    proc = subprocess.Popen(
        [sys.executable, "-m", "reconciler", "emulator", "serve", "--local", str(store), "--init", "--port", "0"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    assert proc.stdout is not None
    line = proc.stdout.readline()  # blocks until the server is listening (or the process died)
    assert line.startswith("listening on http://127.0.0.1:")
    proc.send_signal(sig)
    _out, err = proc.communicate(timeout=30)
    assert proc.returncode == 0
    assert err.strip().splitlines()[-1] == "stopped"
    assert "Traceback" not in err
    assert (store / "emulator.sqlite3").is_file()


@pytest.mark.parametrize("missing", ["stroe", "no/such/dir", "empty"])
def test_serve_refuses_a_directory_without_a_store(tmp_path: Path, missing: str) -> None:
    """Without --init a mistyped DIR is an error, not a new empty store; nothing is created."""
    (tmp_path / "empty").mkdir()
    target = tmp_path / missing
    done = subprocess.run(
        [sys.executable, "-m", "reconciler", "emulator", "serve", "--local", str(target), "--port", "0"],
        capture_output=True, text=True, timeout=60, check=False,
    )
    assert (done.returncode, done.stdout) == (1, "")
    assert done.stderr.startswith(f"error: no emulator store in {target}")
    assert "--init" in done.stderr and "import-dicom" in done.stderr and "Traceback" not in done.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["empty"]
    assert list((tmp_path / "empty").iterdir()) == []


def test_serve_knobs_reach_the_service(tmp_path: Path) -> None:
    """--lenient-primary, --blob-limit, --archive-after and --region, through a real boto3 client."""
    import json

    import boto3
    from botocore.config import Config

    from reconciler.emulator.store import Store

    ds, image_set = "1" * 32, "2" * 32
    store = Store(tmp_path)
    store.ensure_datastore(ds)
    store.put_image_set(ds, image_set, {"Patient": {"DICOM": {"PatientName": "A^B"}}, "Study": {"DICOM": {}}})
    proc = subprocess.Popen(
        [sys.executable, "-m", "reconciler", "emulator", "serve", "--local", str(tmp_path), "--port", "0",
         "--lenient-primary", "--blob-limit", "20000", "--archive-after", "0", "--region", "eu-west-1"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    try:
        assert proc.stdout is not None
        url = proc.stdout.readline().split()[-1]
        client = boto3.client("medical-imaging", region_name="eu-west-1", endpoint_url=url,
                              aws_access_key_id="test", aws_secret_access_key="test",
                              config=Config(inject_host_prefix=False, retries={"total_max_attempts": 1}))
        assert client.get_image_set(datastoreId=ds, imageSetId=image_set)["storageTier"] == "ARCHIVE_INSTANT_ACCESS"
        payload = json.dumps({"SchemaVersion": 1.1, "Patient": {"DICOM": {"PatientName": "C" * 15_000}}})
        answer = client.update_image_set_metadata(  # primary, Patient level, 15,000 bytes: all allowed here
            datastoreId=ds, imageSetId=image_set, latestVersionId="1", force=True,
            updateImageSetMetadataUpdates={"DICOMUpdates": {"updatableAttributes": payload.encode()}})
        assert answer["latestVersionId"] == "2"
        assert client.get_image_set(datastoreId=ds, imageSetId=image_set)["imageSetWorkflowStatus"] == "UPDATED"
    finally:
        proc.send_signal(signal.SIGTERM)
        _out, err = proc.communicate(timeout=30)
    assert proc.returncode == 0 and "Traceback" not in err


@pytest.mark.parametrize(("flag", "knob"), [("--lenient-primary-force", "lenient_primary_force"),
                                            ("--lenient-series-removal", "lenient_series_removal"),
                                            ("--lenient-promotion", "lenient_promotion")])
def test_each_conservative_rule_has_a_serve_flag(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, flag: str,
                                                 knob: str) -> None:
    """The flag reaches the EmulatorConfig that serve runs with (each rule's effect: test_emulator_primary_rules)."""
    import io

    from reconciler.cli import main
    from reconciler.commands._common import Streams
    from reconciler.emulator import http
    from reconciler.emulator.knobs import EmulatorConfig

    seen: list[EmulatorConfig] = []
    monkeypatch.setattr(http, "serve", lambda _dir, _host, _port, config, **_kw: seen.append(config))
    code = main(["emulator", "serve", "--local", str(tmp_path), "--init", "--port", "0", flag],
                Streams(out=io.StringIO(), err=io.StringIO(), inp=io.StringIO("")))
    assert code == 0
    (config,) = seen
    knobs = ("lenient_primary_force", "lenient_series_removal", "lenient_promotion")
    assert {k: getattr(config, k) for k in knobs} == {k: k == knob for k in knobs}


@pytest.mark.parametrize(("flags", "expected"), [([], (False, 1)), (["--omit-is-primary"], (True, 1)),
                                                  (["--first-version", "7"], (False, 7))])
def test_omit_is_primary_and_first_version_reach_the_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                           flags: list[str], expected: tuple[bool, int]) -> None:
    """Each flag reaches the EmulatorConfig serve runs with (their effect: test_emulator_answer_knobs)."""
    import io

    from reconciler.cli import main
    from reconciler.commands._common import Streams
    from reconciler.emulator import http
    from reconciler.emulator.knobs import EmulatorConfig

    seen: list[EmulatorConfig] = []
    monkeypatch.setattr(http, "serve", lambda _dir, _host, _port, config, **_kw: seen.append(config))
    code = main(["emulator", "serve", "--local", str(tmp_path), "--init", "--port", "0", *flags],
                Streams(out=io.StringIO(), err=io.StringIO(), inp=io.StringIO("")))
    assert code == 0
    (config,) = seen
    assert (config.omit_is_primary, config.first_version) == expected


def test_a_first_version_below_1_is_a_usage_error(tmp_path: Path) -> None:
    import io

    from reconciler.cli import main
    from reconciler.commands._common import Streams

    err = io.StringIO()
    code = main(["emulator", "serve", "--local", str(tmp_path), "--init", "--first-version", "0"],
                Streams(out=io.StringIO(), err=err, inp=io.StringIO("")))
    assert code == 1 and "--first-version 0: must be 1 or more" in err.getvalue()
