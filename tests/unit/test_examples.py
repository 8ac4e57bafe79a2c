"""Every file under examples/ is checked: YAML parses, each `reconciler ...` command a recipe runs exists
in the CLI parser with valid flags, the recipes install the project from a pinned source, the apply
step's fallback runs (with bash, against a fake `reconciler` and `aws`) only for a stale or absent plan,
and the IAM policies hold exactly the actions the tool needs."""

from __future__ import annotations

import json
import re
import shlex
import tomllib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from reconciler.adt.mapping import corrections
from reconciler.adt.messages import read_messages
from reconciler.cli import build_parser
from reconciler.errors import UsageError
from reconciler.spec import validate_paths
from tests.support.ci_recipes import RECIPES as CI_SYSTEMS
from tests.support.ci_recipes import apply_step, recorder, run_step

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples"
ALL_FILES = sorted(p for p in EXAMPLES.rglob("*") if p.is_file())
RECIPES = [p for p in ALL_FILES if p.suffix in (".yml", ".yaml") and "ci" in p.parts]
POLICIES = [p for p in ALL_FILES if p.suffix == ".json" and "iam" in p.parts]
SPECS = [p for p in ALL_FILES if p.suffix in (".yml", ".yaml") and p not in RECIPES]
MESSAGES = [p for p in ALL_FILES if p.suffix == ".hl7"]  # HL7 v2 messages for `reconciler adt read`
METADATA = [p for p in ALL_FILES if p.suffix == ".json" and "adt" in p.parts]  # for `reconciler emulator load`
READ_ACTIONS = {"medical-imaging:GetDatastore", "medical-imaging:SearchImageSets", "medical-imaging:GetImageSet",
                "medical-imaging:GetImageSetMetadata", "medical-imaging:ListImageSetVersions"}
WRITE_ACTIONS = {"medical-imaging:UpdateImageSetMetadata"}
STORAGE_SID = "PlanAndJournalStorage"
LIST_SID = "FindReviewedPlan"  # s3:ListBucket under plans/: the apply step checks that the reviewed plan exists
# s3:ListBucket on the bucket: without it S3 answers a drift job's first GetObject of its not yet written state
# with 403 instead of 404 (https://docs.aws.amazon.com/AmazonS3/latest/API/API_GetObject.html, Permissions)
STATE_LIST_SID = "FindDriftState"
# CopyImageSet and DeleteImageSet, only for replacements (`replace: allow`): a statement of its own, so a team
# that does not allow replacements drops it and keeps the rest
REPLACE_SID = "ReplacePrimaryImageSets"
REPLACE_ACTIONS = {"medical-imaging:CopyImageSet", "medical-imaging:DeleteImageSet"}
JOURNAL_LIST_SID = "FindJournals"  # s3:ListBucket under journals/: a re-run reads the journals of earlier runs
_SEPARATORS = {">", ">>", "|", "||", "&&", ";", "2>&1", "<", "2>"}


def test_examples_exist_and_every_file_is_of_a_checked_kind() -> None:
    assert RECIPES and POLICIES and SPECS and MESSAGES and METADATA
    unchecked = [p for p in ALL_FILES if p not in RECIPES + POLICIES + SPECS + MESSAGES + METADATA]
    assert unchecked == [], f"add a check for {unchecked}"


@pytest.mark.parametrize("path", [p for p in ALL_FILES if p not in MESSAGES],
                         ids=lambda p: str(p.relative_to(EXAMPLES)))
def test_every_example_parses(path: Path) -> None:
    text = path.read_text(encoding="utf-8")
    doc = json.loads(text) if path.suffix == ".json" else yaml.safe_load(text)
    assert isinstance(doc, dict) and doc


@pytest.mark.parametrize("path", MESSAGES, ids=lambda p: str(p.relative_to(EXAMPLES)))
def test_every_hl7_example_is_a_message_the_adt_feed_handles(path: Path) -> None:
    messages = read_messages(path.read_text(encoding="utf-8"))
    assert messages and all(corrections(m) for m in messages)


@pytest.mark.parametrize("path", METADATA, ids=lambda p: str(p.relative_to(EXAMPLES)))
def test_every_metadata_example_is_an_image_set_document(path: Path) -> None:
    doc = json.loads(path.read_text(encoding="utf-8"))
    assert doc["Patient"]["DICOM"]["PatientID"] and doc["Study"]["DICOM"]["StudyInstanceUID"] and doc["Study"]["Series"]


@pytest.mark.parametrize("path", SPECS, ids=lambda p: str(p.relative_to(EXAMPLES)))
def test_example_specs_are_valid(path: Path) -> None:
    diagnostics = validate_paths([str(path)])
    assert not [d.render() for d in diagnostics if d.severity == "error"]
    assert path.read_text(encoding="utf-8").startswith("# yaml-language-server: $schema=")


def shell_blocks(node: Any) -> Iterator[str]:
    """Every shell text of a recipe: GitHub ``run:`` values, GitLab ``script``/``before_script`` items."""
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "run" and isinstance(value, str):
                yield value
            elif key in ("script", "before_script", "after_script"):
                yield from ([value] if isinstance(value, str) else [v for v in value if isinstance(v, str)])
            else:
                yield from shell_blocks(value)
    elif isinstance(node, list):
        for item in node:
            yield from shell_blocks(item)


def reconciler_commands(script: str) -> Iterator[list[str]]:
    """The argv of each ``reconciler ...`` invocation in a shell text (variables made placeholders)."""
    text = re.sub(r"\$\{\{[^}]*\}\}", "x", script)  # GitHub expressions
    text = re.sub(r"\$\{?[A-Za-z_][A-Za-z0-9_]*\}?", "x", text).replace("\\\n", " ")
    for line in text.splitlines():
        for part in re.split(r";|&&|\|\||\bthen\b|\bdo\b", line):
            try:
                tokens = shlex.split(part, comments=True)
            except ValueError:
                continue
            if tokens and tokens[0] == "reconciler":
                argv: list[str] = []
                for token in tokens[1:]:
                    if token in _SEPARATORS or token.startswith((">", "2>")):
                        break
                    argv.append(token)
                yield argv


def recipe_commands() -> list[tuple[str, list[str]]]:
    out = []
    for path in RECIPES:
        doc = yaml.safe_load(path.read_text(encoding="utf-8"))
        for script in shell_blocks(doc):
            out += [(f"{path.relative_to(EXAMPLES)}: reconciler {' '.join(a)}", a) for a in reconciler_commands(script)]
    return out


COMMANDS = recipe_commands()


def test_the_recipes_run_plan_apply_and_drift() -> None:
    used = {argv[0] for _where, argv in COMMANDS}
    assert {"validate", "plan", "apply", "drift"} <= used
    for recipe in ("github", "gitlab"):
        assert {a[0] for w, a in COMMANDS if w.startswith(f"ci/{recipe}")} >= {"plan", "apply", "drift"}


@pytest.mark.parametrize("argv", [a for _w, a in COMMANDS], ids=[w for w, _a in COMMANDS])
def test_every_recipe_command_exists_with_valid_flags(argv: list[str]) -> None:
    args = build_parser().parse_args(argv)  # raises UsageError for an unknown command or flag
    assert args.func is not None


@pytest.mark.parametrize("path", [p for p in RECIPES if "github" in p.parts], ids=lambda p: p.name)
def test_github_recipes_assume_a_role_with_oidc(path: Path) -> None:
    doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    assert doc["permissions"]["id-token"] == "write"
    steps = [s for job in doc["jobs"].values() for s in job["steps"]]
    creds = [s for s in steps if str(s.get("uses", "")).startswith("aws-actions/configure-aws-credentials@")]
    assert len(creds) == 1 and creds[0]["with"]["role-to-assume"].startswith("arn:aws:iam::")


def test_the_drift_recipes_fail_on_exit_2_and_keep_the_json_report() -> None:
    gh = yaml.safe_load((EXAMPLES / "ci" / "github" / "reconciler-drift.yml").read_text())
    assert "schedule" in gh[True]  # YAML 1.1 reads the key `on` as True
    steps = gh["jobs"]["drift"]["steps"]
    upload = next(s for s in steps if str(s.get("uses", "")).startswith("actions/upload-artifact@"))
    assert upload["if"] == "always()" and upload["with"]["path"] == "drift.json"
    assert "exit ${{ steps.drift.outputs.exitcode }}" in steps[-1]["run"]
    gl = yaml.safe_load((EXAMPLES / "ci" / "gitlab" / "gitlab-ci.yml").read_text())
    assert gl["drift"]["artifacts"]["when"] == "always" and gl["drift"]["script"][-1] == "exit $code"


def test_the_drift_recipes_keep_their_state_in_s3_between_runs() -> None:
    """Each drift job passes --state with an S3 URL under state/ (which the read-only policy allows), and
    keys it with a secret, never with a value in the recipe itself."""
    gh = yaml.safe_load((EXAMPLES / "ci" / "github" / "reconciler-drift.yml").read_text())
    gl = yaml.safe_load((EXAMPLES / "ci" / "gitlab" / "gitlab-ci.yml").read_text())
    urls = {"github": gh["env"]["STATE_URL"],
            "gitlab": gl["drift"]["variables"]["STATE_URL"].replace("$PLAN_BUCKET", gl["variables"]["PLAN_BUCKET"])}
    for recipe, url in urls.items():
        assert url.startswith(f"s3://{BUCKET}/state/"), recipe
        drift = [a for w, a in COMMANDS if w.startswith(f"ci/{recipe}") and a[0] == "drift"]
        assert drift and all(a[a.index("--state") + 1] == "x" for a in drift)  # "$STATE_URL"
    # the state is keyed with the redaction key the recipes already take from a secret, never from the file
    assert gh["env"]["RECONCILER_REDACTION_KEY"] == "${{ secrets.RECONCILER_REDACTION_KEY }}"
    assert "RECONCILER_REDACTION_KEY" not in json.dumps(gl["drift"]) and "KEY" not in json.dumps(gl["variables"])
    storage = next(st for st in statements(EXAMPLES / "iam" / "reconciler-read-only.json") if st["Sid"] == STORAGE_SID)
    assert f"arn:aws:s3:::{BUCKET}/state/*" in storage["Resource"]


def test_the_recipes_install_the_project_from_a_pinned_git_tag() -> None:
    """The project is not on PyPI: every recipe installs RECONCILER_SOURCE, a git URL pinned to the tag of
    this version, with a CHANGE-ME placeholder for where the user's copy lives."""
    version = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]["version"]
    for path in RECIPES:
        doc = yaml.safe_load(path.read_text(encoding="utf-8"))
        installs = [line for script in shell_blocks(doc) for line in script.splitlines() if "pip install" in line]
        assert installs and all('pip install --quiet "$RECONCILER_SOURCE"' in line
                                or line.strip() == 'pip install "$RECONCILER_SOURCE"' for line in installs), installs
        source = doc.get("env", doc.get("variables"))["RECONCILER_SOURCE"]
        assert source == f"git+https://github.com/CHANGE-ME/imageset-reconciler@v{version}", path
    gitlab = yaml.safe_load((EXAMPLES / "ci" / "gitlab" / "gitlab-ci.yml").read_text(encoding="utf-8"))
    assert not gitlab[".reconciler"]["image"].endswith("-slim")  # pip needs git for a git+https URL


def test_the_recipes_pass_the_redaction_key_from_a_secret() -> None:
    """The PR comment, the apply log and the drift report show the same fingerprints only with one key
    in every job: GitHub passes the repository secret to each workflow; GitLab exports the CI/CD
    variable the recipe asks for (it is never written in the file)."""
    for path in (EXAMPLES / "ci" / "github").glob("*.yml"):
        env = yaml.safe_load(path.read_text(encoding="utf-8"))["env"]
        assert env["RECONCILER_REDACTION_KEY"] == "${{ secrets.RECONCILER_REDACTION_KEY }}", path
    gitlab = (EXAMPLES / "ci" / "gitlab" / "gitlab-ci.yml").read_text(encoding="utf-8")
    header = gitlab.split("\n\n", 1)[0]
    assert "RECONCILER_REDACTION_KEY (masked, not protected" in header.replace("\n# ", " ")
    assert "RECONCILER_REDACTION_KEY:" not in gitlab  # never a value in the repository


BUCKET = "my-reconciler-plans"
SAVED = "reconciler apply s3://{bucket}/{key} --journal s3://{bucket}/journals/"
CHECK = "aws s3api list-objects-v2 --bucket {bucket} --prefix {key} --no-paginate --query KeyCount --output text"
REPLAN = "reconciler apply specs/ --auto-approve --journal s3://{bucket}/journals/"
FALLBACK_CASES = {
    # name: (pull request number, what the existence check prints or its exit code, exit of the
    #        saved-plan apply, exit of the re-planned apply) -> (job exit, the commands run)
    "reviewed plan applies": (("42", "1", 0, 0), (0, [CHECK, SAVED])),
    "stale plan: re-plan and apply": (("42", "1", 3, 0), (0, [CHECK, SAVED, REPLAN])),
    "stale plan, the re-plan fails": (("42", "1", 3, 1), (1, [CHECK, SAVED, REPLAN])),
    "tampered plan refused (exit 1)": (("42", "1", 1, 0), (1, [CHECK, SAVED])),
    "interrupted apply (exit 130)": (("42", "1", 130, 0), (130, [CHECK, SAVED])),
    "plan absent: re-plan, never the saved plan": (("42", "0", 0, 0), (0, [CHECK, REPLAN])),
    "existence check denied: fail, apply nothing": (("42", 254, 0, 0), (254, [CHECK])),
    "no pull request: plan from main": (("", "1", 0, 0), (0, [REPLAN])),
}


@pytest.mark.parametrize("recipe", CI_SYSTEMS)
@pytest.mark.parametrize(("given", "expected"), FALLBACK_CASES.values(), ids=FALLBACK_CASES.keys())
def test_the_apply_step_falls_back_only_for_a_stale_or_absent_plan(
    tmp_path: Path, recipe: str, given: tuple[str, str | int, int, int], expected: tuple[int, list[str]]
) -> None:
    """The apply step's own shell text, run by bash with a fake `reconciler` and `aws` on PATH."""
    number, check, saved_exit, specs_exit = given
    job_exit, commands = expected
    bindir = tmp_path / "bin"
    bindir.mkdir()
    recorder(bindir, "reconciler", f'case "$2" in s3://*) exit {saved_exit};; esac; exit {specs_exit}')
    recorder(bindir, "aws", f"echo {check}" if isinstance(check, str)
             else f"echo 'An error occurred (AccessDenied) when calling the ListObjectsV2 operation' >&2; exit {check}")
    step = apply_step(recipe, number)
    assert step.env["PLAN_BUCKET"] == BUCKET
    calls = tmp_path / "calls"
    calls.touch()
    done = run_step(step, {"PATH": f"{bindir}:/usr/bin:/bin", "CALLS": str(calls)}, tmp_path)
    assert done.returncode == job_exit, done.stdout + done.stderr
    assert calls.read_text().splitlines() == [c.format(bucket=BUCKET, key=step.plan_key) for c in commands]


def statements(path: Path) -> list[dict[str, Any]]:
    doc = json.loads(path.read_text(encoding="utf-8"))
    assert doc["Version"] == "2012-10-17"
    result: list[dict[str, Any]] = doc["Statement"]
    return result


@pytest.mark.parametrize("path", POLICIES, ids=lambda p: p.name)
def test_policies_scope_medical_imaging_to_a_datastore_and_s3_to_one_statement(path: Path) -> None:
    for st in statements(path):
        assert st["Effect"] == "Allow" and st["Sid"]
        actions = st["Action"] if isinstance(st["Action"], list) else [st["Action"]]
        resources = st["Resource"] if isinstance(st["Resource"], list) else [st["Resource"]]
        assert "*" not in resources and not any("*" in a for a in actions)
        if st["Sid"] == STORAGE_SID:
            assert all(a.startswith("s3:") for a in actions)
            assert all(r.startswith("arn:aws:s3:::") and r.endswith("/*") for r in resources)
        elif st["Sid"] == LIST_SID:
            assert actions == ["s3:ListBucket"] and resources == ["arn:aws:s3:::my-reconciler-plans"]
            assert st["Condition"] == {"StringLike": {"s3:prefix": ["plans/*"]}}
        elif st["Sid"] == STATE_LIST_SID:
            assert actions == ["s3:ListBucket"] and resources == ["arn:aws:s3:::my-reconciler-plans"]
        elif st["Sid"] == JOURNAL_LIST_SID:
            assert actions == ["s3:ListBucket"] and resources == ["arn:aws:s3:::my-reconciler-plans"]
            assert st["Condition"] == {"StringLike": {"s3:prefix": ["journals/*"]}}
        else:
            assert all(a.startswith("medical-imaging:") for a in actions)
            assert all(re.fullmatch(r"arn:aws:medical-imaging:[a-z0-9-]+:\d{12}:datastore/[0-9a-z]{32}"
                                    r"(/imageset/\*)?", r) for r in resources)
    assert [st["Sid"] for st in statements(path)].count(STORAGE_SID) == 1


@pytest.mark.parametrize(("name", "expected"), [
    ("reconciler-read-only.json", READ_ACTIONS),
    ("reconciler-apply.json", READ_ACTIONS | WRITE_ACTIONS),
])
def test_policies_hold_exactly_the_needed_actions(name: str, expected: set[str]) -> None:
    sids = [st["Sid"] for st in statements(EXAMPLES / "iam" / name)]
    actions = {a for st in statements(EXAMPLES / "iam" / name)
               if st["Sid"] not in (STORAGE_SID, LIST_SID, STATE_LIST_SID, JOURNAL_LIST_SID, REPLACE_SID)
               for a in st["Action"]}
    assert actions == expected
    replace = {a for st in statements(EXAMPLES / "iam" / name) if st["Sid"] == REPLACE_SID for a in st["Action"]}
    assert replace == (REPLACE_ACTIONS if name == "reconciler-apply.json" else set())
    assert (LIST_SID in sids) == (name == "reconciler-apply.json")  # only the apply job lists plans/
    assert (STATE_LIST_SID in sids) == (name == "reconciler-read-only.json")  # the drift job keeps a state
    # apply --journal s3://.../journals/ lists the journals of earlier runs to finish a replacement
    assert (JOURNAL_LIST_SID in sids) == (name == "reconciler-apply.json")


@pytest.mark.parametrize("script", ["reconciler plan specs/ --no-such-flag > plan.md",
                                    "set +e; reconciler deploy specs/; code=$?"])
def test_the_command_check_catches_a_wrong_command(script: str) -> None:
    (argv,) = list(reconciler_commands(script))
    with pytest.raises(UsageError):
        build_parser().parse_args(argv)
