"""What a reviewer reads, through the CLI against the in-process emulator: fingerprints that match
across runs (with a key) and between a saved plan, `show` and `apply PLANFILE` (even without one),
`show PLANFILE`, `apply --show-phi`, the spec `file:line` of every change and error, a missing
datastore named as such, and --show-phi refused where output is usually shared."""

from __future__ import annotations

import io
import json
import re
from pathlib import Path

import jsonschema
import pytest

from reconciler.cli import main
from reconciler.commands._common import Streams
from reconciler.render.redact import ENV_KEY
from tests.support.planenv import CHANGE, DS, HEAD, IS, KEY, ROOT, SECRET, run, seed_env, uid, write

FINGERPRINT = re.compile(r"<redacted:[0-9a-f]{8}>|uid:[0-9a-f]{8}")
NOTE = "note: fingerprints"
CHANGE_LINE = re.compile(r"^\s*[+~-] (Patient|Study)\.")
MISSING_IS = "0" * 32
MISSING_DS = "9" * 32


class Terminal(io.StringIO):
    """Standard input that says it is a terminal, with the user's typed answer in it."""

    def isatty(self) -> bool:
        return True


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    return seed_env(tmp_path, monkeypatch)


def fingerprints(text: str) -> list[str]:
    return FINGERPRINT.findall(text)


def bare(fingerprint: str) -> str:
    """``<redacted:1a2b3c4d>`` or ``uid:1a2b3c4d`` -> ``1a2b3c4d``."""
    return fingerprint.removeprefix("uid:").removeprefix("<redacted:").removesuffix(">")


# -- fingerprints -------------------------------------------------------------------------------------

def test_with_a_key_fingerprints_are_the_same_in_every_run_and_nothing_is_noted(env: Path) -> None:
    spec = write(env, CHANGE)
    first, second = run("plan", spec), run("plan", spec)
    assert first[0] == second[0] == 0
    assert fingerprints(first[1]) == fingerprints(second[1]) and len(fingerprints(first[1])) == 6
    assert f"uid:{uid('1.1')[4:]}" in first[1]  # the tests' key: computable
    assert NOTE not in first[2] + second[2]


def test_without_a_key_in_the_environment_the_users_key_keeps_fingerprints_stable(
    env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(ENV_KEY)
    spec = write(env, CHANGE)
    for fmt in ("text", "json", "markdown"):
        code, out, err = run("plan", spec, "--format", fmt)
        assert code == 0 and len(fingerprints(out)) >= 6
        assert NOTE not in err
    first, second = run("plan", spec), run("plan", spec)
    assert len(fingerprints(first[1])) == 6 and fingerprints(first[1]) == fingerprints(second[1])


def test_where_no_key_can_be_kept_fingerprints_differ_between_runs_and_it_is_said_once(
    env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(ENV_KEY)
    (env / "not-a-folder").write_text("")
    monkeypatch.setenv("XDG_CONFIG_HOME", str(env / "not-a-folder"))
    spec = write(env, CHANGE)
    for fmt in ("text", "json", "markdown"):
        code, out, err = run("plan", spec, "--format", fmt)
        assert code == 0 and len(fingerprints(out)) >= 6
        assert err.count(NOTE) == 1, err  # one note, however many fingerprints
        assert ENV_KEY in err and str(env / "not-a-folder") in err
    first, second = run("plan", spec), run("plan", spec)
    assert len(fingerprints(first[1])) == len(fingerprints(second[1])) == 6
    assert set(fingerprints(first[1])).isdisjoint(fingerprints(second[1]))


def test_no_note_with_show_phi(env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(ENV_KEY)
    code, out, err = run("plan", write(env, CHANGE), "--show-phi")
    assert code == 0 and SECRET in out and NOTE not in err


def test_a_short_key_is_refused_without_echoing_it(env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(ENV_KEY, "hunter2-secret")
    code, out, err = run("plan", write(env, CHANGE))
    assert code == 1 and out == ""
    assert f"{ENV_KEY} is too short (14 characters, at least 32)" in err and "hunter2" not in err
    assert "Traceback" not in err


@pytest.mark.parametrize("with_key", [True, False])
def test_show_and_apply_of_a_saved_plan_print_the_plans_own_fingerprints(
    env: Path, monkeypatch: pytest.MonkeyPatch, with_key: bool
) -> None:
    if not with_key:  # the plan made on one machine, shown and applied on another (another user's key)
        monkeypatch.delenv(ENV_KEY)
        monkeypatch.setenv("XDG_CONFIG_HOME", str(env / "planner"))
    code, planned, _ = run("plan", write(env, CHANGE), "--out", "p.plan")
    if not with_key:
        monkeypatch.setenv("XDG_CONFIG_HOME", str(env / "reviewer"))
    assert code == 0
    saved = (env / "p.plan").read_text()
    assert KEY not in saved  # the hashes are kept, never the key
    kept = set(json.loads(saved)["fingerprints"].values())
    assert {bare(f) for f in fingerprints(planned)} <= kept
    code, shown, err = run("show", "p.plan")
    assert code == 0 and NOTE not in err
    assert shown.startswith(planned)  # the same plan, the same fingerprints, then what it was made from
    assert shown[len(planned):].lstrip().startswith("Made from: ")
    code, md, err = run("show", "p.plan", "--format", "markdown")
    assert code == 0 and NOTE not in err
    assert set(fingerprints(planned)) < set(fingerprints(md))  # and the study's
    assert {bare(f) for f in fingerprints(md)} <= kept
    code, applied, err = run("apply", "p.plan")
    assert code == 0, err
    without_cost = "".join(line for line in planned.splitlines(keepends=True) if not line.startswith("Cost: "))
    assert applied.startswith(without_cost) and "1 converged" in applied  # the Cost line is the apply's own
    assert NOTE not in err and SECRET not in applied + err


# -- show ---------------------------------------------------------------------------------------------

def test_show_json_is_the_plan_json_and_follows_the_schema(env: Path) -> None:
    code, planned, _ = run("plan", write(env, CHANGE), "--format", "json", "--out", "p.plan")
    assert code == 0
    code, shown, _ = run("show", "p.plan", "--format", "json")
    assert code == 0 and json.loads(shown) == json.loads(planned)
    schema = json.loads((ROOT / "schemas/plan.schema.json").read_text())
    jsonschema.Draft202012Validator(schema).validate(json.loads(shown))


def test_show_redacts_unless_show_phi(env: Path) -> None:
    assert run("plan", write(env, CHANGE), "--out", "p.plan")[0] == 0
    for fmt in ("text", "json", "markdown"):
        code, out, err = run("show", "p.plan", "--format", fmt)
        assert code == 0 and SECRET not in out + err and "1.1" not in out
    code, out, _ = run("show", "p.plan", "--show-phi")
    assert code == 0 and SECRET in out and "Study.Series[1.1].Instances[2.2] (instance)" in out


@pytest.mark.parametrize(("change", "message"), [
    (lambda text: text.replace('"versionId": "1"', '"versionId": "7"'), "digest does not match"),
    (lambda text: text[: len(text) // 2], "not a saved plan (not JSON)"),
    (lambda text: text.replace('"fingerprints": {', '"fingerprints": {"x": "y", ', 1), "digest does not match"),
])
def test_show_refuses_a_modified_plan(env: Path, change: object, message: str) -> None:
    assert run("plan", write(env, CHANGE), "--out", "p.plan")[0] == 0
    path = env / "p.plan"
    path.write_text(change(path.read_text()))  # type: ignore[operator]
    code, out, err = run("show", "p.plan")
    assert code == 1 and out == "" and message in err and "Traceback" not in err


def test_show_of_a_missing_file_says_so(env: Path) -> None:
    code, out, err = run("show", "nope.plan")
    assert code == 1 and out == "" and "nope.plan: cannot read the plan" in err


# -- apply --show-phi ----------------------------------------------------------------------------------

def terminal(*argv: str, typed: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = main(list(argv), Streams(out=out, err=err, inp=Terminal(typed)))
    return code, out.getvalue(), err.getvalue()


def test_apply_show_phi_shows_the_values_at_the_prompt(env: Path) -> None:
    spec = write(env, CHANGE)
    code, out, _ = terminal("apply", spec, "--show-phi", typed="no\n")
    assert code == 1 and "Do you want to perform these actions?" in out
    assert f'~ Patient.DICOM.PatientName: "{SECRET}" -> "NEW^NAME"' in out
    code, out, _ = terminal("apply", spec, typed="no\n")
    assert code == 1 and SECRET not in out and "<redacted:" in out


# -- --show-phi where output is shared ------------------------------------------------------------------

@pytest.mark.parametrize(("argv", "allowed"), [
    (["plan", "specs", "--format", "markdown"], 0),
    (["drift", "specs", "--format", "markdown"], 2),
    (["show", "p.plan", "--format", "markdown"], 0),
])
def test_show_phi_in_markdown_needs_the_extra_flag(env: Path, argv: list[str], allowed: int) -> None:
    write(env, CHANGE)
    assert run("plan", "specs", "--out", "p.plan")[0] == 0
    code, out, err = run(*argv, "--show-phi")
    assert code == 1 and out == ""
    assert "--show-phi refused" in err and "pull-request comment" in err and "--allow-phi-in-shared-output" in err
    code, out, _ = run(*argv, "--show-phi", "--allow-phi-in-shared-output")
    assert code == allowed and SECRET in out


@pytest.mark.parametrize("argv", [
    ["plan", "specs"],
    ["drift", "specs", "--format", "json"],
    ["apply", "specs", "--auto-approve"],
    ["show", "p.plan"],
    ["history", "--datastore-id", DS, "--image-set-id", IS, "--diff"],
    ["revert", "--datastore-id", DS, "--image-set-id", IS, "--to-version", "1", "--auto-approve"],
])
def test_show_phi_in_ci_needs_the_extra_flag(env: Path, monkeypatch: pytest.MonkeyPatch, argv: list[str]) -> None:
    write(env, CHANGE)
    assert run("plan", "specs", "--out", "p.plan")[0] == 0
    monkeypatch.setenv("CI", "true")
    code, out, err = run(*argv, "--show-phi")
    assert code == 1 and out == "" and "in CI (CI=true)" in err
    assert run("plan", "specs")[0] == 0  # without --show-phi CI changes nothing


def test_show_phi_in_ci_with_the_extra_flag_shows_values(env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CI", "true")
    code, out, _ = run("plan", write(env, CHANGE), "--show-phi", "--allow-phi-in-shared-output")
    assert code == 0 and SECRET in out


# -- where did this come from --------------------------------------------------------------------------

def test_every_change_names_its_spec_line_in_every_format(env: Path) -> None:
    spec = write(env, CHANGE)
    code, out, _ = run("plan", spec)
    assert code == 0
    lines = [line for line in out.splitlines() if CHANGE_LINE.match(line)]
    assert len(lines) == 4 and all(re.search(r"  \(specs/a\.yaml:\d+\)$", line) for line in lines)
    assert '~ Patient.DICOM.PatientName: "' in out and "(specs/a.yaml:9)" in lines[0]
    code, out, _ = run("plan", spec, "--format", "json")
    assert code == 0
    (item,) = json.loads(out)["image_sets"]
    assert item["sources"] == ["specs/a.yaml:1"]
    assert [c["source"] for c in item["changes"]] == ["specs/a.yaml:9", "specs/a.yaml:12", "specs/a.yaml:16",
                                                      "specs/a.yaml:18"]
    code, out, _ = run("plan", spec, "--format", "markdown")
    assert code == 0
    fenced = [line for line in out.splitlines() if CHANGE_LINE.match(line)]
    assert len(fenced) == 4 and all("(specs/a.yaml:" in line for line in fenced)


def missing_image_set(env: Path) -> str:
    return write(env, HEAD.replace(IS, MISSING_IS) + "desired:\n  Study:\n    DICOM:\n      StudyDescription: X\n")


def test_image_set_not_found_names_the_spec_in_every_format(env: Path) -> None:
    spec = missing_image_set(env)
    expected = f"image set {MISSING_IS} was not found in datastore {DS} (spec specs/a.yaml:1)"
    for fmt in ("text", "markdown"):
        code, out, _ = run("plan", spec, "--format", fmt)
        assert code == 1 and expected in out
    code, out, _ = run("plan", spec, "--format", "json")
    assert code == 1 and json.loads(out)["image_sets"][0]["error"] == expected


@pytest.mark.parametrize("command", [["plan"], ["drift"], ["apply", "--auto-approve"]])
def test_a_wrong_datastore_id_says_the_datastore_does_not_exist(env: Path, command: list[str]) -> None:
    spec = write(env, HEAD.replace(DS, MISSING_DS) + "desired:\n  Study:\n    DICOM:\n      StudyDescription: X\n")
    code, out, err = run(command[0], spec, *command[1:])
    assert code == 1
    assert f"datastore {MISSING_DS} does not exist (so image set {IS} cannot be read) (spec specs/a.yaml:1)" in out
    assert "was not found" not in out + err


def test_a_select_on_a_wrong_datastore_names_the_spec_line(env: Path) -> None:
    spec = write(env, f"apiVersion: reconciler/v1\nkind: ImageSetMetadata\ntarget:\n  datastoreId: {MISSING_DS}\n"
                      "  select:\n    DICOMPatientId: P1\ndesired:\n  Study:\n    DICOM:\n      StudyDescription: X\n")
    code, out, err = run("plan", spec)
    assert code == 1 and out == ""
    assert "specs/a.yaml:4:" in err and f"datastore {MISSING_DS} does not exist" in err


def test_spec_warnings_on_plan_redact_uids_as_the_plan_does(env: Path) -> None:
    """A spec finding printed by plan (it may end in a CI log) follows the same rule; `validate`, which
    describes the spec file itself, names the keys as written."""
    spec = write(env, HEAD + 'desired:\n  Study:\n    Series:\n      "1.1":\n        DICOM:\n'
                             '          SeriesInstanceUID: "1.1"\n')  # a UID change: warned (needs force)
    code, out, err = run("plan", spec)
    assert code == 1 and "needs force" in out  # no force: true in the spec
    assert "1.1" not in err and f"desired.Study.Series[{uid('1.1')}].DICOM.SeriesInstanceUID: warning" in err
    # the UID as a value and as the series key: one fingerprint (one rule for keys and values)
    assert f'+ Study.Series[{uid("1.1")}].DICOM.SeriesInstanceUID: "{uid("1.1")}"' in out
    code, out, _ = run("validate", spec)
    assert code == 0 and "Series[1.1]" in out
