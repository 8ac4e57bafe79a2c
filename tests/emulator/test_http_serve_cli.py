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
