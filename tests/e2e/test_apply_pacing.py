"""Pacing against a strict server: `reconciler emulator serve --rate UpdateImageSetMetadata=R:1` refuses any
update that comes less than 1/R after the previous one, as the real quota does (burst 1). An apply paced
at the same R must get no ThrottlingException at all, counted from the emulator's own request log."""

from __future__ import annotations

import io
import json
import subprocess
import sys
from pathlib import Path

import pytest
from applyenv import seed, write_specs

from reconciler.cli import main
from reconciler.commands._common import Streams

RATE = 10  # updates per second: an interval of 0.1 s, so jitter of a few ms matters
COUNT = 8
READS = ["--rate=GetImageSet=500", "--rate=GetImageSetMetadata=500", "--rate=ListImageSetVersions=500"]


@pytest.fixture(autouse=True)
def _aws_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name, value in {"AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test",
                        "AWS_CONFIG_FILE": str(tmp_path / "none"),
                        "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "none")}.items():
        monkeypatch.setenv(name, value)
    for name in ("AWS_PROFILE", "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_MEDICAL_IMAGING", "RECONCILER_LOCAL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)


def test_apply_against_a_strict_burst_one_server_is_never_throttled(tmp_path: Path) -> None:
    store = tmp_path / "store"
    ds, ids = seed(store, COUNT)
    specs = write_specs(tmp_path / "specs", ds, ids)
    log_path = tmp_path / "emulator.log"
    with log_path.open("w") as log:
        serve = subprocess.Popen(
            [sys.executable, "-m", "reconciler", "emulator", "serve", "--local", str(store), "--port", "0",
             "--lock-seconds", "0.2", "--rate", f"UpdateImageSetMetadata={RATE}:1"],
            stdout=subprocess.PIPE, stderr=log, text=True,
        )
        try:
            assert serve.stdout is not None
            url = serve.stdout.readline().strip().rsplit(" ", 1)[-1]  # "listening on http://127.0.0.1:PORT"
            assert url.startswith("http://127.0.0.1:")
            out, err = io.StringIO(), io.StringIO()
            code = main(["apply", str(specs), "--endpoint-url", url, "--auto-approve", "--journal", "j.jsonl",
                         "--format", "json", f"--rate=UpdateImageSetMetadata={RATE}:1", *READS],
                        Streams(out=out, err=err, inp=io.StringIO("")))
        finally:
            serve.terminate()
            serve.wait(timeout=10)
    assert code == 0, err.getvalue()
    assert [r["status"] for r in json.loads(out.getvalue())["image_sets"]] == ["converged"] * COUNT
    lines = log_path.read_text().splitlines()
    updates = [line for line in lines if "/updateImageSetMetadata " in line]
    assert len(updates) == COUNT, updates  # one request per image set: none was refused and retried
    assert [line for line in lines if line.endswith(" 429")] == []
