"""`reconciler plan` end to end: real YAML specs, the CLI, the emulator in process and over HTTP."""

from __future__ import annotations

import io
import json
import logging
import os
import stat
from pathlib import Path

import jsonschema
import pytest

from reconciler.emulator.knobs import EmulatorConfig
from reconciler.persist import Storage
from reconciler.plan.planfile import load_plan
from tests.support.backends import start_server
from tests.support.planenv import CHANGE, FORBIDDEN, HEAD, IN_SYNC, ROOT, SECRET, run, seed_env, uid, write


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    return seed_env(tmp_path, monkeypatch)


@pytest.mark.parametrize(
    ("spec", "flags", "code"),
    [
        (CHANGE, [], 0),
        (CHANGE, ["--detailed-exitcode"], 2),
        (IN_SYNC, ["--detailed-exitcode"], 0),
        (IN_SYNC, [], 0),
        (FORBIDDEN, [], 1),
        (FORBIDDEN, ["--detailed-exitcode"], 1),
    ],
)
def test_plan_exit_codes(env: Path, spec: str, flags: list[str], code: int) -> None:
    assert run("plan", write(env, spec), *flags)[0] == code


def test_text_plan_reads_like_terraform(env: Path) -> None:
    code, out, _ = run("plan", write(env, CHANGE))
    assert code == 0
    assert f'+ Study.Series[{uid("1.1")}].DICOM.BodyPartExamined: "CHEST"  (specs/a.yaml:16)' in out
    assert f"- Study.Series[{uid('1.1')}].Instances[{uid('2.2')}] (instance)  (specs/a.yaml:18)" in out
    assert "Plan: 1 to update, 0 unchanged, 0 with errors (1 to add, 1 to change, 2 to remove); 1 request." in out
    assert "1 request, about 4 s at 0.25/s" in out


def test_forbidden_change_names_path_and_spec_line(env: Path) -> None:
    code, out, _ = run("plan", write(env, FORBIDDEN))
    assert code == 1
    assert f"Study.Series[{uid('9.9')}] (specs/a.yaml:" in out and "series does not exist" in out


def test_invalid_spec_is_reported_like_validate(env: Path) -> None:
    code, out, err = run("plan", write(env, HEAD + "desired: [1]\n"))
    assert code == 1 and out == ""
    assert "specs/a.yaml:" in err


def test_json_validates_against_the_schema(env: Path) -> None:
    code, out, _ = run("plan", write(env, CHANGE), "--format", "json")
    data = json.loads(out)
    jsonschema.Draft202012Validator(json.loads((ROOT / "schemas/plan.schema.json").read_text())).validate(data)
    assert code == 0 and data["summary"]["to_update"] == 1


def test_saved_plan_is_0600_and_holds_the_exact_requests(env: Path) -> None:
    code, _, err = run("plan", write(env, CHANGE), "--out", "p.plan")
    assert code == 0 and "Saved the plan to p.plan" in err
    assert stat.S_IMODE(os.stat(env / "p.plan").st_mode) == 0o600
    (isp,) = load_plan(str(env / "p.plan"), Storage())[0].image_sets
    (req,) = isp.requests
    assert isp.version_id == "1" and req.force is False
    assert json.loads(req.removable or b"")["Study"]["Series"]["1.1"]["Instances"] == {"2.2": {}}
    assert isp.desired["Patient"]["DICOM"]["PatientName"] == "NEW^NAME"


def test_a_bad_s3_out_url_is_refused_before_anything_is_read(env: Path) -> None:
    code, _, err = run("plan", write(env, CHANGE), "--out", "s3://bucket/plans/")
    assert code == 1 and "name the object" in err


@pytest.mark.parametrize("fmt", ["text", "json", "markdown"])
def test_no_patient_name_in_any_output_or_log_without_show_phi(
    env: Path, fmt: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    code, out, err = run("plan", write(env, CHANGE), "--format", fmt)
    assert code == 0
    assert SECRET not in out + err + caplog.text
    assert "<redacted:" in out
    shared = ["--allow-phi-in-shared-output"] if fmt == "markdown" else []  # a PR comment: asked twice
    code, out, _ = run("plan", write(env, CHANGE), "--format", fmt, "--show-phi", *shared)
    assert SECRET in out


def test_plan_over_http_endpoint(env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("RECONCILER_LOCAL")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "test")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "test")
    server, thread, url = start_server(env / "store", EmulatorConfig(), log=io.StringIO())
    try:
        code, out, _ = run("plan", write(env, CHANGE), "--endpoint-url", url, "--detailed-exitcode")
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
    assert code == 2 and "1 to update" in out


def test_a_warning_is_labelled_once(env: Path) -> None:
    """A warning's line says ``warning:`` once, as `validate` prints it (not also ``(warning)``)."""
    private = IN_SYNC.replace('              KVP: "120"\n', '              KVP: "120"\n              00091001: "x"\n')
    _, _, err = run("plan", write(env, private))
    lines = [line for line in err.splitlines() if "00091001" in line]
    assert any(": warning: private tag without a VR" in line for line in lines)
    assert lines and all(line.count("warning") == 1 for line in lines) and "(warning)" not in err


def test_one_run_builds_one_client_and_parses_rates_once(env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The composition root: `drift --blame` reads the history with the plan's client (one limiter),
    and --rate is parsed once however many outputs need the update rate."""
    import reconciler.commands._options as options
    import reconciler.local as local

    built: list[object] = []
    parsed: list[object] = []
    real_connect, real_parse = local.connect, options.parse_limits
    monkeypatch.setattr(local, "connect",
                        lambda options, **timing: built.append(options) or real_connect(options, **timing))
    monkeypatch.setattr(options, "parse_limits", lambda items: parsed.append(items) or real_parse(items))
    code, out, _ = run("drift", write(env, CHANGE), "--blame", "--format", "markdown",
                       "--rate", "UpdateImageSetMetadata=2")
    assert code == 2 and "Blame:" in out and "at 2/s" in out
    assert len(built) == 1 and len(parsed) == 1


@pytest.mark.parametrize("command", [["plan"], ["drift"], ["apply", "--auto-approve"]])
def test_invalid_specs_stop_every_planning_command_with_one_error_line(env: Path, command: list[str]) -> None:
    """The findings as `validate` prints them, then SpecError's line (the CLI maps it to exit 1)."""
    code, out, err = run(command[0], write(env, HEAD + "desired: [1]\n"), *command[1:])
    lines = err.splitlines()
    assert (code, out) == (1, "") and lines[0].startswith("specs/a.yaml:")
    assert lines[-1] == "error: the specs are invalid (1 error); nothing was read"


def test_invalid_specs_raise_spec_error_before_anything_is_read(env: Path) -> None:
    from reconciler.cli import build_parser
    from reconciler.commands._common import Context, Streams, plan_specs
    from reconciler.errors import SpecError

    args = build_parser().parse_args(["plan", write(env, HEAD + "desired: [1]\n")])
    ctx = Context(args, Streams(out=io.StringIO(), err=io.StringIO(), inp=None))
    with pytest.raises(SpecError, match="1 error"):
        plan_specs(ctx)
    assert "api" not in vars(ctx)  # no client was even built
