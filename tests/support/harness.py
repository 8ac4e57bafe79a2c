"""Harness for the conformance tests: `reconciler emulator serve` as a subprocess and the real AWS CLI.

The AWS CLI here is awscli v1 from PyPI (in the venv); it has no --cli-binary-format and its blob
arguments are raw text that it base64-encodes itself.
"""

from __future__ import annotations

import contextlib
import gzip
import io
import json
import os
import queue
import signal
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TextIO

import pytest

from reconciler.cli import build_parser, main
from reconciler.commands._common import Streams
from reconciler.commands.emulator_cmd import serve_config
from reconciler.emulator.http import make_server, open_service
from tests.support.forked import ForkedReconciler

DATA = Path(__file__).resolve().parents[1] / "conformance" / "data"
AWS = Path(sys.executable).parent / "aws"
DATASTORE = "12345678901234567890123456789012"


def cli_env() -> dict[str, str]:
    """A clean environment for the AWS CLI: emulator creds, us-east-1, no host prefix, no user config."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update({
        "AWS_ACCESS_KEY_ID": "test",
        "AWS_SECRET_ACCESS_KEY": "test",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_DISABLE_HOST_PREFIX_INJECTION": "true",
        "AWS_CONFIG_FILE": os.devnull,
        "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
        "AWS_EC2_METADATA_DISABLED": "true",
        "AWS_MAX_ATTEMPTS": "1",
    })
    return env


class Emulator:
    """A running `reconciler emulator serve` on its own store, driven with the AWS CLI (PROC: the serve
    process, or None for a server running in a thread of this process)."""

    def __init__(self, store: Path, url: str, proc: subprocess.Popen[str] | None) -> None:
        self.store = store
        self.url = url
        self.proc = proc

    def aws(self, *args: str, cwd: Path = DATA) -> subprocess.CompletedProcess[str]:
        cmd = [str(AWS), "medical-imaging", *args, "--endpoint-url", self.url, "--output", "json"]
        return subprocess.run(cmd, cwd=cwd, env=cli_env(), capture_output=True, text=True, timeout=120)

    def aws_json(self, *args: str) -> Any:
        done = self.aws(*args)
        assert done.returncode == 0, done.stderr
        return json.loads(done.stdout) if done.stdout.strip() else None

    def metadata(self, image_set_id: str, tmp: Path, version: str | None = None) -> Any:
        """The document read back with `aws medical-imaging get-image-set-metadata` (a gzip file)."""
        out = tmp / f"metadata-{image_set_id}-{version or 'latest'}.json.gz"
        extra = ["--version-id", version] if version else []
        head = self.aws_json("get-image-set-metadata", "--datastore-id", DATASTORE,
                             "--image-set-id", image_set_id, *extra, str(out))
        assert head["contentEncoding"] == "gzip"
        return json.loads(gzip.decompress(out.read_bytes()))


def load_fixture(
    store: Path, image_set_id: str, datastore_id: str = DATASTORE, *, primary: bool = True
) -> dict[str, Any]:
    """Load tests/conformance/data/imageset_<ID>.json with `reconciler emulator load`; return it."""
    path = DATA / f"imageset_{image_set_id}.json"
    err = io.StringIO()
    flags = [] if primary else ["--non-primary"]
    code = main(["emulator", "load", "--local", str(store), "--datastore-id", datastore_id,
                 "--image-set-id", image_set_id, *flags, str(path)], Streams(out=io.StringIO(), err=err, inp=None))
    assert code == 0, err.getvalue()
    doc: dict[str, Any] = json.loads(path.read_text())
    return doc


@contextlib.contextmanager
def serve_in_thread(store: Path, *flags: str, rate_clock: Callable[[], float],
                    log: TextIO | None = None) -> Iterator[Emulator]:
    """`emulator serve --local STORE FLAGS...` as the command configures it, in a thread of this process,
    with the rate limits refilling by RATE_CLOCK (a fake clock: a test decides how much time passes
    between two requests, however long the AWS CLI takes to start); its request log (one line per
    request: method, path, status) goes to LOG."""
    args = build_parser().parse_args(["emulator", "serve", "--local", str(store), *flags])
    config = serve_config(args)
    server = make_server(open_service(store, config, rate_clock=rate_clock), access_key=config.access_key,
                         secret_key=config.secret_key, region=config.region, log=log)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield Emulator(store, server.url, None)
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def start_serve(store: Path, *extra: str) -> tuple[subprocess.Popen[str], str]:
    return start_listening(
        [sys.executable, "-m", "reconciler", "emulator", "serve", "--local", str(store), "--port", "0", *extra])


def start_listening(argv: list[str], **popen: Any) -> tuple[subprocess.Popen[str], str]:
    """Start ARGV (an `emulator serve` command line) and wait for its `listening on URL` line; return the URL."""
    proc = ForkedReconciler(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **popen)
    lines: queue.Queue[str] = queue.Queue()
    assert proc.stdout is not None
    threading.Thread(target=lambda: lines.put(proc.stdout.readline() if proc.stdout else ""),
                     daemon=True).start()
    try:
        first = lines.get(timeout=60)
    except queue.Empty:
        proc.kill()
        pytest.fail("emulator serve did not start within 60 s")
    assert first.startswith("listening on http://127.0.0.1:"), first
    return proc, first.split()[-1]


def stop_serve(proc: subprocess.Popen[str]) -> None:
    """SIGTERM: the server stops cleanly (exit 0, no traceback)."""
    proc.send_signal(signal.SIGTERM)
    try:
        _, err = proc.communicate(timeout=30)
    except subprocess.TimeoutExpired:
        proc.kill()
        pytest.fail("emulator serve did not stop on SIGTERM")
    assert proc.returncode == 0, err
    assert "Traceback" not in err
