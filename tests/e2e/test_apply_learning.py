"""The CLI learns an account it is not told about, keeps the rate for the next run, and says so: `reconciler
emulator serve --rate UpdateImageSetMetadata=R:B` plays the account; the client gets no --rate for updates."""

from __future__ import annotations

import io
import json
import os
import stat
import sys
from pathlib import Path

import pytest

from reconciler.cli import main
from reconciler.commands._common import Streams
from reconciler.learned import recall
from tests.support.applyenv import SPEC_YAML, seed, write_specs
from tests.support.backends import isolate_aws
from tests.support.harness import serve_in_thread, start_listening, stop_serve
from tests.support.sharedclock import SharedClock

pytestmark = pytest.mark.slow
UPDATE = "UpdateImageSetMetadata"
COUNT = 12


@pytest.fixture(autouse=True)
def _aws_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    isolate_aws(tmp_path, monkeypatch)
    monkeypatch.chdir(tmp_path)


def run(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = main(list(argv), Streams(out=out, err=err, inp=io.StringIO("")))
    return code, out.getvalue(), err.getvalue()


def test_an_apply_learns_the_update_rate_keeps_it_and_the_next_plan_says_so(tmp_path: Path) -> None:
    store = tmp_path / "store"
    ds, ids = seed(store, COUNT)
    specs = write_specs(tmp_path / "specs", ds, ids)
    proc, url = start_listening([sys.executable, "-m", "reconciler", "emulator", "serve", "--local", str(store),
                                 "--port", "0", "--rate", f"{UPDATE}=20:4"])
    try:
        code, out, err = run("plan", str(specs), "--endpoint-url", url)
        assert code == 0, err
        assert "at 0.25/s (the documented quota; apply learns this account's rate from its answers)" in out
        code, out, err = run("apply", str(specs), "--endpoint-url", url, "--auto-approve", "--format", "json")
        assert code == 0, err
    finally:
        stop_serve(proc)
    report = json.loads(out)
    assert report["summary"]["converged"] == COUNT
    update = report["pacing"][UPDATE]
    assert (update["source"], update["start_rate"]) == ("documented", 0.25)
    assert update["peak_rate"] > 0.25 and update["rate"] > 0.25  # it rose while answered
    assert report["pacing"]["GetImageSet"]["source"] == "learned"  # reads learn too: the plan before kept its rate
    path = Path(os.environ["RECONCILER_RATES_FILE"])
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    learned = recall(path, f"endpoint {url} us-east-1")
    assert learned[UPDATE] == pytest.approx(update["rate"], rel=1e-3)
    assert "PatientName" not in path.read_text() and "NEW^" not in path.read_text()  # no patient data

    again = tmp_path / "again"
    again.mkdir()
    for n, image_set_id in enumerate(ids, start=1):  # a second change to the same image sets
        (again / f"s{n:03d}.yaml").write_text(SPEC_YAML.format(ds=ds, image_set_id=image_set_id, n=n)
                                               .replace("NEW^", "AGAIN^"))
    text = again
    proc, url3 = start_listening([sys.executable, "-m", "reconciler", "emulator", "serve", "--local", str(store),
                                  "--port", url.rsplit(":", 1)[1]])
    try:
        code, out, err = run("plan", str(text), "--endpoint-url", url3)
        assert code == 0, err
        assert f"at {learned[UPDATE]:g}/s (the rate learned for this account)" in out
        code, out, err = run("apply", str(text), "--endpoint-url", url3, "--auto-approve")
        assert code == 0, err
    finally:
        stop_serve(proc)
    assert "Pacing (the rate each operation reached, requests throttled):" in out
    assert f"  {UPDATE} reached " in out and "learning from" in out and ", learned;" in out


def test_rate_caps_the_update_rate_and_nothing_is_learned_for_it(tmp_path: Path) -> None:
    """The server runs in this process and refills by the fake clock the client paces by (boto3 still
    reaches it over a real socket), so "never throttled" does not depend on how loaded the machine is."""
    store = tmp_path / "store"
    ds, ids = seed(store, 3)
    specs = write_specs(tmp_path / "specs", ds, ids)
    clock = SharedClock()
    with serve_in_thread(store, "--rate", f"{UPDATE}=20:1", rate_clock=clock) as emu:
        url = emu.url
        out, err = io.StringIO(), io.StringIO()
        code = main(["apply", str(specs), "--endpoint-url", url, "--auto-approve", "--format", "json",
                     "--rate", f"{UPDATE}=20:1"], Streams(out=out, err=err, inp=io.StringIO("")),
                    clock=clock, sleep=clock.sleep)
    assert code == 0, err.getvalue()
    update = json.loads(out.getvalue())["pacing"][UPDATE]
    assert (update["source"], update["rate"], update["peak_rate"], update["throttled"]) == ("--rate", 20, 20, 0)
    assert UPDATE not in recall(Path(os.environ["RECONCILER_RATES_FILE"]), f"endpoint {url} us-east-1")
