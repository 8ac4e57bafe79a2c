"""`reconciler apply` end to end: saved plans, staleness, tampering, emulator faults, the no-terminal rule."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import pytest

from reconciler.apply.journal import read_journal
from reconciler.cli import main
from reconciler.commands._common import Streams
from reconciler.emulator.knobs import EmulatorConfig
from tests.support.applyenv import (
    CLI_RATES,
    client,
    http_emulator,
    make_plan,
    record_backend,
    rename_specs,
    save_for,
    seed,
    write_specs,
)
from tests.support.backends import isolate_aws


@pytest.fixture(autouse=True)
def _aws_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    isolate_aws(tmp_path, monkeypatch)
    monkeypatch.chdir(tmp_path)


def cli(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = main(list(argv), Streams(out=out, err=err, inp=io.StringIO("")))
    return code, out.getvalue(), err.getvalue()


def saved_plan(tmp_path: Path, count: int = 3) -> tuple[Path, str, list[str], Path]:
    store = tmp_path / "store"
    ds, ids = seed(store, count)
    planfile = tmp_path / "plan.json"
    save_for(make_plan(store, rename_specs(ds, ids)), planfile, store)
    return store, ds, ids, planfile


def patient(store: Path, ds: str, image_set_id: str) -> dict[str, Any]:
    doc: dict[str, Any] = client(store).get_image_set_metadata(ds, image_set_id)["Patient"]["DICOM"]
    return doc


def test_saved_plan_after_an_outside_write_exits_3_and_keeps_that_write(tmp_path: Path) -> None:
    store, ds, ids, planfile = saved_plan(tmp_path)
    outside = b'{"SchemaVersion":"1.1","Patient":{"DICOM":{"PatientID":"OUTSIDE"}}}'
    client(store).update_image_set_metadata(ds, ids[1], "1", updatable=outside)
    code, out, err = cli("apply", str(planfile), "--local", str(store), "--journal", "j.jsonl",
                         "--format", "json", *CLI_RATES)
    assert code == 3, err
    report = json.loads(out)
    assert [r["status"] for r in report["image_sets"]] == ["converged", "stale", "converged"]
    stale = report["image_sets"][1]
    assert (stale["plannedVersion"], stale["currentVersion"], stale["requestsSent"]) == ("1", "2", 0)
    assert patient(store, ds, ids[1]) == {"PatientName": "PATIENT^2", "PatientID": "OUTSIDE",
                                                "PatientSex": "F"}
    assert [patient(store, ds, i)["PatientName"] for i in (ids[0], ids[2])] == ["NEW^1", "NEW^3"]
    events = [(r["event"], r.get("imageSetId")) for r in read_journal(tmp_path / "j.jsonl")]
    assert ("stale", ids[1]) in events and ("converged", ids[0]) in events


@pytest.mark.parametrize(
    "tamper",
    [
        lambda text: text.replace('"versionId": "1"', '"versionId": "2"', 1),
        lambda text: text[: len(text) // 2],
        lambda text: text.replace('"force": false', '"force": true', 1),
    ],
    ids=["version-edited", "truncated", "force-flipped"],
)
def test_tampered_plan_is_refused_whole_with_nothing_sent(tmp_path: Path, tamper: Any) -> None:
    store, ds, ids, planfile = saved_plan(tmp_path)
    text = planfile.read_text()
    changed = tamper(text)
    assert changed != text
    planfile.write_text(changed)
    with http_emulator(store, EmulatorConfig()) as (url, log):
        code, _out, err = cli("apply", str(planfile), "--endpoint-url", url, "--journal", "j.jsonl", *CLI_RATES)
        requests = log.getvalue().strip()
    assert code == 1 and "plan" in err and "Traceback" not in err
    assert requests == ""  # not one request reached the emulator
    assert not (tmp_path / "j.jsonl").exists()
    assert [patient(store, ds, i)["PatientName"] for i in ids] == ["PATIENT^1", "PATIENT^2", "PATIENT^3"]


FAULTS = [  # (id, emulator config, extra CLI args, exit code, message in every result, mark in the request log)
    ("throttle-30%", EmulatorConfig(faults={"*": [("throttle", 0.3)]}, seed=1), [], 0, None, " 429"),
    ("500-30%", EmulatorConfig(faults={"*": [("500", 0.3)]}, seed=2), [], 0, None, " 500"),
    ("drop-30%", EmulatorConfig(faults={"*": [("drop", 0.3)]}, seed=3), [], 0, None, "dropped"),
    ("server-rate-below-client-rate", EmulatorConfig(rates={"UpdateImageSetMetadata": 2.0}), [], 0, None, " 429"),
    ("update-failed", EmulatorConfig(faults={"UpdateImageSetMetadata": [("update_failed", 1.0)]}), [], 1,
     "UPDATE_FAILED on version 2", None),
    # a lock that outlasts any stall of the machine: the 0.3 s bound, not the lock's end, decides
    ("long-lock-beyond-bound", EmulatorConfig(lock_seconds=3600.0), ["--wait-timeout", "0.3"], 1,
     "still LOCKED after 0.3 s", None),
    ("long-lock-within-bound", EmulatorConfig(lock_seconds=0.6), [], 0, None, None),
]


@pytest.mark.parametrize(("config", "extra", "code", "message", "mark"), [f[1:] for f in FAULTS],
                         ids=[f[0] for f in FAULTS])
def test_emulator_faults_give_the_right_exit_code_and_report(
    tmp_path: Path, config: EmulatorConfig, extra: list[str], code: int, message: str | None, mark: str | None
) -> None:
    store, _ds, _ids, planfile = saved_plan(tmp_path)
    with http_emulator(store, config) as (url, log):
        record_backend(planfile, url)
        got, out, err = cli("apply", str(planfile), "--endpoint-url", url, "--journal", "j.jsonl",
                            "--format", "json", *CLI_RATES, *extra)
    assert "Traceback" not in err and "Traceback" not in out
    assert got == code, (out, err)
    if mark:
        assert mark in log.getvalue()  # the fault did fire, and was absorbed
    report = json.loads(out)
    statuses = {r["status"] for r in report["image_sets"]}
    assert statuses == ({"converged"} if code == 0 else {"failed"})
    if message:
        assert all(message in r["message"] for r in report["image_sets"])
    assert len(read_journal(tmp_path / "j.jsonl")) >= 2 + 3 * 3  # run start/end, and per image set


def test_reapplying_a_saved_plan_after_it_was_applied_converges(tmp_path: Path) -> None:
    store, _ds, _ids, planfile = saved_plan(tmp_path, count=2)
    args = ("apply", str(planfile), "--local", str(store), "--journal", "j.jsonl", "--format", "json", *CLI_RATES)
    assert cli(*args)[0] == 0
    code, out, _err = cli(*args)
    assert code == 0
    assert {r["message"] for r in json.loads(out)["image_sets"]} == {"already applied (found at version 2)"}


def test_spec_paths_without_a_terminal_are_refused_before_anything_is_sent(tmp_path: Path) -> None:
    store, _ds, _ids, _planfile = saved_plan(tmp_path)
    (tmp_path / "specs").mkdir()
    with http_emulator(store, EmulatorConfig()) as (url, log):
        code, _out, err = cli("apply", "specs", "--endpoint-url", url)
        assert log.getvalue() == ""
    assert code == 1
    assert "not a terminal" in err and "--auto-approve" in err and "saved plan" in err


@pytest.mark.parametrize("args", [["nonexist.plan"], ["nonexist.plan", "--auto-approve"],
                                  ["specs", "missing.yaml"]])
def test_a_missing_path_is_named_before_confirmation_or_anything_sent(tmp_path: Path, args: list[str]) -> None:
    store, ds, ids, _planfile = saved_plan(tmp_path, count=1)
    (tmp_path / "specs").mkdir()
    with http_emulator(store, EmulatorConfig()) as (url, log):
        code, out, err = cli("apply", *args, "--endpoint-url", url)
        assert log.getvalue() == ""
    missing = [a for a in args if a.startswith(("nonexist", "missing"))]
    assert (code, out) == (1, "")
    assert err == f"error: no such file or folder: {', '.join(missing)}\n"
    assert patient(store, ds, ids[0])["PatientName"] == "PATIENT^1"


def test_text_report_and_progress_lines(tmp_path: Path) -> None:
    store, _ds, _ids, planfile = saved_plan(tmp_path, count=2)
    code, out, err = cli("apply", str(planfile), "--local", str(store), "--journal", "j.jsonl", *CLI_RATES)
    assert code == 0
    assert "Apply complete: 2 converged, 0 unchanged, 0 stale, 0 failed" in out
    assert "converged  " in out and "version 1 -> 2 (1 request, verified)" in out
    assert "[2/2] " in err and "Journal: j.jsonl" in out


def test_a_bad_s3_journal_url_is_refused_before_anything_is_sent(tmp_path: Path) -> None:
    store, ds, ids, planfile = saved_plan(tmp_path, count=1)
    code, _out, err = cli("apply", str(planfile), "--local", str(store), "--journal", "s3://B_/j/")
    assert code == 1 and "valid bucket name" in err
    assert patient(store, ds, ids[0])["PatientName"] == "PATIENT^1"


def test_a_saved_plan_is_applied_only_to_the_backend_it_was_made_against(tmp_path: Path) -> None:
    """Planned against --local store A: another store (a copy of A) and A served over HTTP are other
    backends, refused before anything is sent; A itself, named by another path, is the same one."""
    import shutil

    store_a = tmp_path / "a"
    ds, ids = seed(store_a, 1)
    write_specs(tmp_path / "specs", ds, ids)
    code, _out, err = cli("plan", "specs", "--local", "a", "--out", "p.plan", *CLI_RATES)
    assert code == 0, err
    shutil.copytree(store_a, tmp_path / "b")

    code, out, err = cli("apply", "p.plan", "--local", str(tmp_path / "b"), "--journal", "jb.jsonl", *CLI_RATES)
    assert (code, out) == (1, "") and err.count("\n") == 1 and "Traceback" not in err
    assert f"made against the local emulator store {store_a.resolve()}, but this apply would run against the " \
           f"local emulator store {(tmp_path / 'b').resolve()}; refused, nothing was sent" in err
    assert patient(tmp_path / "b", ds, ids[0])["PatientName"] == "PATIENT^1" and not (tmp_path / "jb.jsonl").exists()

    with http_emulator(store_a, EmulatorConfig()) as (url, log):
        code, out, err = cli("apply", "p.plan", "--endpoint-url", url, "--journal", "je.jsonl", *CLI_RATES)
        requests = log.getvalue()
    assert (code, out, requests) == (1, "", "")
    assert f"this apply would run against the endpoint {url}; refused" in err
    assert patient(store_a, ds, ids[0])["PatientName"] == "PATIENT^1" and not (tmp_path / "je.jsonl").exists()

    code, out, err = cli("apply", "p.plan", "--local", str(store_a), "--journal", "ja.jsonl", *CLI_RATES)
    assert code == 0, err
    assert patient(store_a, ds, ids[0])["PatientName"] == "NEW^1"


def test_a_negative_drain_timeout_is_refused_before_anything_is_sent(tmp_path: Path) -> None:
    store, ds, ids, planfile = saved_plan(tmp_path, count=1)
    code, _out, err = cli("apply", str(planfile), "--local", str(store), "--drain-timeout", "-1")
    assert (code, err) == (1, "error: --drain-timeout -1: must be 0 or more\n")
    assert patient(store, ds, ids[0])["PatientName"] == "PATIENT^1"
