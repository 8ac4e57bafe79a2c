"""Pacing against a strict server: `reconciler emulator serve --rate UpdateImageSetMetadata=R:1` refuses any
update that comes less than 1/R after the previous one, as the real quota does (burst 1). An apply paced
at the same R must get no ThrottlingException at all, counted from the emulator's own request log.

No real clock decides the outcome: the server runs in a thread of this process (boto3 still reaches it
over a real socket) with its rate limits refilling by a fake clock, and the apply's client paces and
backs off by the same clock, whose sleep only moves it on. The server's bucket therefore sees exactly the
time the client's pacer waited, however loaded the machine: a pacer that waits 1/R is never refused, and
one that sends early is (the control case, so that the check can fail)."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

from reconciler.cli import main
from reconciler.commands._common import Streams
from tests.support.applyenv import seed, write_specs
from tests.support.backends import isolate_aws
from tests.support.harness import serve_in_thread
from tests.support.sharedclock import SharedClock

RATE = 10  # updates per second the server admits, burst 1
COUNT = 8
READS = ["--rate=GetImageSet=500", "--rate=GetImageSetMetadata=500", "--rate=ListImageSetVersions=500"]


@pytest.fixture(autouse=True)
def _aws_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    isolate_aws(tmp_path, monkeypatch)
    monkeypatch.chdir(tmp_path)


def _apply_against_strict_server(tmp_path: Path, client_rate: float) -> tuple[int, str, str, list[str]]:
    """Apply COUNT updates (4 in parallel) paced at CLIENT_RATE (burst 1) to a server enforcing RATE with a
    burst of 1, both on one fake clock; return the exit code, stdout, stderr and the server's log lines."""
    store = tmp_path / "store"
    ds, ids = seed(store, COUNT)
    specs = write_specs(tmp_path / "specs", ds, ids)
    clock = SharedClock()
    log = io.StringIO()
    out, err = io.StringIO(), io.StringIO()
    with serve_in_thread(store, "--lock-seconds", "0.2", "--rate", f"UpdateImageSetMetadata={RATE}:1",
                         rate_clock=clock, log=log) as emu:
        assert emu.url.startswith("http://127.0.0.1:")
        code = main(["apply", str(specs), "--endpoint-url", emu.url, "--auto-approve", "--journal", "j.jsonl",
                     "--format", "json", "--parallelism", "4", f"--rate=UpdateImageSetMetadata={client_rate:g}:1",
                     *READS],
                    Streams(out=out, err=err, inp=io.StringIO("")), clock=clock, sleep=clock.sleep)
    return code, out.getvalue(), err.getvalue(), log.getvalue().splitlines()


def _updates(lines: list[str]) -> list[str]:
    return [line for line in lines if "/updateImageSetMetadata " in line]


def test_apply_against_a_strict_burst_one_server_is_never_throttled(tmp_path: Path) -> None:
    code, out, err, lines = _apply_against_strict_server(tmp_path, RATE)
    assert code == 0, err
    assert [r["status"] for r in json.loads(out)["image_sets"]] == ["converged"] * COUNT
    updates = _updates(lines)
    assert len(updates) == COUNT, updates  # one request per image set: none was refused and retried
    assert [line for line in lines if line.endswith(" 429")] == []


def test_a_pacer_that_sends_early_is_throttled_by_the_same_server(tmp_path: Path) -> None:
    """The control: paced at 100 x RATE, the second update reaches the server a hundredth of its interval
    after the first, every time, and is refused; the client's retries then get every image set through."""
    code, out, err, lines = _apply_against_strict_server(tmp_path, 100 * RATE)
    updates = _updates(lines)
    assert [line.rsplit(" ", 1)[-1] for line in updates[:2]] == ["200", "429"], updates
    assert len(updates) > COUNT, updates  # the refused ones were sent again
    assert code == 0, err
    assert [r["status"] for r in json.loads(out)["image_sets"]] == ["converged"] * COUNT
