"""A local store is not paced at AWS's quotas unless --rate asks: its own limits are the emulator's (none by
default), so an apply against the demo store runs at local speed, and the plan's ETA says whose rate it is."""

from __future__ import annotations

import io
import json
import os
from pathlib import Path

import pytest

from reconciler.cli import main
from reconciler.commands._common import Streams
from tests.support.applyenv import seed, write_specs

UPDATE = "UpdateImageSetMetadata"


def run(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = main(list(argv), Streams(out=out, err=err, inp=io.StringIO("")))
    return code, out.getvalue(), err.getvalue()


@pytest.fixture
def local(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, Path]:
    monkeypatch.chdir(tmp_path)
    ds, ids = seed(tmp_path / "store", 5)
    return tmp_path / "store", write_specs(tmp_path / "specs", ds, ids)


def test_a_local_apply_is_not_paced_and_learns_nothing(local: tuple[Path, Path]) -> None:
    store, specs = local
    code, out, err = run("plan", str(specs), "--local", str(store))
    assert code == 0, err
    assert ("5 requests, about 20 s at 0.25/s (AWS's documented quota; the local store is not paced unless "
            "--rate asks)") in out
    code, out, err = run("apply", str(specs), "--local", str(store), "--auto-approve", "--format", "json")
    assert code == 0, err
    report = json.loads(out)
    assert report["summary"]["converged"] == 5
    assert report["pacing"] == {}  # no operation was paced: five updates went out as fast as answered
    assert not Path(os.environ["RECONCILER_RATES_FILE"]).exists()  # nothing learned, nothing kept


def test_rate_paces_a_local_store(local: tuple[Path, Path]) -> None:
    store, specs = local
    code, out, err = run("plan", str(specs), "--local", str(store), "--rate", f"{UPDATE}=50:1")
    assert code == 0, err
    assert "5 requests, about 1 s at 50/s (as --rate sets it)" in out
    code, out, err = run("apply", str(specs), "--local", str(store), "--auto-approve", "--format", "json",
                         "--rate", f"{UPDATE}=50:1")
    assert code == 0, err
    pacing = json.loads(out)["pacing"]
    assert list(pacing) == [UPDATE]
    assert (pacing[UPDATE]["source"], pacing[UPDATE]["start_rate"], pacing[UPDATE]["throttled"]) == ("--rate", 50, 0)
