"""kill -9 at random moments during `reconciler apply`: the journal stays exact and a re-run converges."""

from __future__ import annotations

import io
import json
import os
import random
import signal
import subprocess
import time
from pathlib import Path

import pytest

from reconciler.cli import main
from reconciler.commands._common import Streams
from reconciler.emulator.knobs import EmulatorConfig
from tests.support.applyenv import CLI_RATES, http_emulator, make_plan, rename_specs, save_for, seed, write_specs
from tests.support.forked import PREFIX, ForkedReconciler
from tests.support.journalcheck import check_journal


@pytest.fixture(autouse=True)
def _aws_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name, value in _env(tmp_path).items():
        if name.startswith("AWS_"):
            monkeypatch.setenv(name, value)
    monkeypatch.delenv("RECONCILER_LOCAL", raising=False)
    monkeypatch.delenv("AWS_PROFILE", raising=False)


def _env(tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "RECONCILER_"))}
    env.update(AWS_ACCESS_KEY_ID="test", AWS_SECRET_ACCESS_KEY="test", AWS_CONFIG_FILE=str(tmp_path / "none"),
               AWS_SHARED_CREDENTIALS_FILE=str(tmp_path / "none"))
    return env


@pytest.mark.parametrize("seed_value", [11, 22, 33])
def test_kill_9_mid_apply_leaves_an_exact_journal_and_a_rerun_converges(tmp_path: Path, seed_value: int) -> None:
    store = tmp_path / "store"
    ds, ids = seed(store, 6)
    docs = rename_specs(ds, ids)
    planfile = tmp_path / "plan.json"
    plan = make_plan(store, docs)
    journal = tmp_path / "journal.jsonl"
    with http_emulator(store, EmulatorConfig(lock_seconds=0.2)) as (url, _log):
        save_for(plan, planfile, url)
        proc = ForkedReconciler(
            [*PREFIX, "apply", str(planfile), "--endpoint-url", url,
             "--journal", str(journal), "--parallelism", "2", *CLI_RATES,
             "--rate", "UpdateImageSetMetadata=8"],
            env=_env(tmp_path), cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        # wait until the run has started writing, then kill at a random moment of it
        deadline = time.monotonic() + 30
        while not journal.exists() and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.02)
        time.sleep(random.Random(seed_value).uniform(0.0, 0.8))
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)
        check_journal(journal, may_end_badly=False)

        # re-run through the CLI on the specs: already-converged image sets plan to nothing
        out, err = io.StringIO(), io.StringIO()
        write_specs(tmp_path / "specs", ds, ids)
        code = main(["apply", str(tmp_path / "specs"), "--endpoint-url", url, "--auto-approve", "--journal",
                     str(tmp_path / "rerun.jsonl"), "--format", "json", *CLI_RATES], Streams(out, err, io.StringIO()))
        assert code == 0, err.getvalue()
        assert {r["status"] for r in json.loads(out.getvalue())["image_sets"]} <= {"converged", "unchanged"}
        assert {p.action for p in make_plan(store, docs).image_sets} == {"none"}
