"""`reconciler emulator serve`: bad flags and an unusable port are one-line errors with exit 1.

(Serving itself, the printed URL and the clean stop on SIGTERM are exercised by tests/conformance.)
"""

from __future__ import annotations

import io
import socket
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
        code, out, err = _run(["emulator", "serve", "--local", str(tmp_path), "--port", str(port)])
    assert (code, out) == (1, "")
    assert err.startswith(f"error: cannot listen on 127.0.0.1:{port}")
