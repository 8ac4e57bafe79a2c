"""Every file under examples/ is checked: YAML parses, each `reconciler ...` command a recipe runs exists
in the CLI parser with valid flags, the recipes install the project from a pinned tag with its lock file on
the Python the lock was made for, plans are keyed by pull request and head commit, the apply step (run
with bash, against a fake `reconciler` and a stand-in GitLab API) applies only the plan of the merged head
commit and re-plans only a stale one, apply and drift share the drift state, and the IAM policies hold
exactly the actions and objects the jobs need."""

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
from tests.support.ci_recipes import HEAD, STATE_KEY, apply_step, recorder, run_step
from tests.support.ci_recipes import RECIPES as CI_SYSTEMS
from tests.support.gitlab_api import gitlab_api

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
PLAN_READ_SID = "ReadReviewedPlans"  # the apply role reads plans/, never writes there
# s3:ListBucket on the bucket: without it S3 answers a GetObject of an object that does not exist (the first
# run's drift state, a plan that was never saved) with 403 instead of 404
# (https://docs.aws.amazon.com/AmazonS3/latest/API/API_GetObject.html, Permissions); it also lets apply list the
# journals of earlier runs
STATE_LIST_SID = "FindDriftState"
# CopyImageSet and DeleteImageSet, only for replacements (`replace: allow`): a statement of its own, so a team
# that does not allow replacements drops it and keeps the rest
REPLACE_SID = "ReplacePrimaryImageSets"
REPLACE_ACTIONS = {"medical-imaging:CopyImageSet", "medical-imaging:DeleteImageSet"}
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
    assert state_urls("github") == state_urls("gitlab") == {f"s3://{BUCKET}/{STATE_KEY}"}
    for recipe in CI_SYSTEMS:
        drift = [a for w, a in COMMANDS if w.startswith(f"ci/{recipe}") and a[0] == "drift"]
        assert drift and all("--state" in a for a in drift)
    # the state is keyed with the redaction key the recipes already take from a secret, never from the file
    assert gh["env"]["RECONCILER_REDACTION_KEY"] == "${{ secrets.RECONCILER_REDACTION_KEY }}"
    assert "RECONCILER_REDACTION_KEY" not in json.dumps(gl["drift"]) and "KEY" not in json.dumps(gl["variables"])
    storage = next(st for st in statements(EXAMPLES / "iam" / "reconciler-read-only.json") if st["Sid"] == STORAGE_SID)
    assert f"arn:aws:s3:::{BUCKET}/state/*" in storage["Resource"]


def state_urls(recipe: str) -> set[str]:
    """The --state location of every apply and drift command of RECIPE, its variables filled in."""
    if recipe == "gitlab":
        doc = yaml.safe_load((EXAMPLES / "ci" / "gitlab" / "gitlab-ci.yml").read_text())
        texts = ["\n".join(doc[job]["script"]) for job in ("apply", "drift")]
        named = {"$STATE_URL": doc["variables"]["STATE_URL"]}
    else:
        docs = [yaml.safe_load((EXAMPLES / "ci" / "github" / f"reconciler-{n}.yml").read_text())
                for n in ("apply", "drift")]
        texts = [s["run"] for d in docs for job in d["jobs"].values() for s in job["steps"] if "run" in s]
        named = {f"${k}": v for k, v in re.findall(r'^\s*(\w+)="(s3://[^"]+)"', "\n".join(texts), re.M)}
    urls = set()
    for text in texts:
        for ref in re.findall(r'reconciler (?:apply|drift) .*--state "(\$\w+)"', text):
            urls.add(named[ref].replace("$PLAN_BUCKET", BUCKET))
    return urls


def test_the_apply_recipes_pass_the_drift_recipes_state() -> None:
    """Every apply (the saved plan's and the re-plan's) records what it verified, and each replacement, in the
    state the drift job reads, so the drift after a merged replacement is in sync."""
    for recipe in CI_SYSTEMS:
        applies = [a for w, a in COMMANDS if w.startswith(f"ci/{recipe}") and a[0] == "apply"]
        assert len(applies) == 2 and all("--state" in a for a in applies), recipe
    gh_apply = (EXAMPLES / "ci" / "github" / "reconciler-apply.yml").read_text()
    assert gh_apply.count('--state "$state"') == 2 and f'state="s3://$PLAN_BUCKET/{STATE_KEY}"' in gh_apply
    gitlab = (EXAMPLES / "ci" / "gitlab" / "gitlab-ci.yml").read_text()
    assert gitlab.count('--state "$STATE_URL"') == 3
    apply = statements(EXAMPLES / "iam" / "reconciler-apply.json")
    storage = next(st for st in apply if st["Sid"] == STORAGE_SID)
    assert set(storage["Action"]) == {"s3:GetObject", "s3:PutObject"}
    assert f"arn:aws:s3:::{BUCKET}/state/*" in storage["Resource"]


LOCK_PYTHON = re.findall(r"--python-version (\S+)", (ROOT / "Makefile").read_text())
INSTALL = ['git fetch --quiet --depth 1 "$RECONCILER_REPO" "$RECONCILER_REF"', "git checkout --quiet FETCH_HEAD",
           "pip install --quiet --require-hashes -r requirements.lock", "pip install --quiet --no-deps .",
           "pip check"]


def install_lines(doc: Any) -> list[str]:
    return [line for script in shell_blocks(doc) for line in script.splitlines()
            if "pip install" in line or "git fetch" in line or "FETCH_HEAD" in line or "pip check" in line]


@pytest.mark.parametrize("path", RECIPES, ids=lambda p: str(p.relative_to(EXAMPLES)))
def test_the_recipes_install_the_tested_release_with_its_lock_file(path: Path) -> None:
    """The project is not on PyPI: every recipe fetches RECONCILER_REF (the tag of this version, or a commit
    SHA) of RECONCILER_REPO, installs every dependency from its requirements.lock with the hashes checked, then
    the package without resolving anything again, on the Python version the lock was made for."""
    version = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]["version"]
    doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    text = "\n".join(install_lines(doc))
    for part in INSTALL:
        assert part in text, (path, part)
    assert text.index("--require-hashes") < text.index("--no-deps")  # the lock first: nothing resolved later
    assert not re.search(r"pip install (?!--quiet --require-hashes|--quiet --no-deps)", text), text
    variables = doc.get("env", doc.get("variables"))
    assert variables["RECONCILER_REF"] == f"v{version}" or re.fullmatch(r"[0-9a-f]{40}", variables["RECONCILER_REF"])
    assert variables["RECONCILER_REPO"] == "https://github.com/CHANGE-ME/imageset-reconciler.git"
    assert len(set(LOCK_PYTHON)) == 1  # every lock of the Makefile is made for one Python
    if "github" in path.parts:
        (python,) = {s["with"]["python-version"] for job in doc["jobs"].values() for s in job["steps"]
                     if str(s.get("uses", "")).startswith("actions/setup-python@")}
        assert python == LOCK_PYTHON[0]
    else:
        assert doc[".reconciler"]["image"] == f"python:{LOCK_PYTHON[0]}"  # not -slim: git is needed


# The lines a user edits: the repository URL, the bucket and the role ARNs (GitLab: CI/CD variables)
CHANGE_ME = re.compile(r"RECONCILER_REPO: |PLAN_BUCKET: |role-to-assume: arn:aws:iam::")


@pytest.mark.parametrize("path", RECIPES, ids=lambda p: str(p.relative_to(EXAMPLES)))
def test_the_recipes_ask_to_change_only_the_repository_the_bucket_and_the_roles(path: Path) -> None:
    settings = [line for line in path.read_text(encoding="utf-8").splitlines() if not line.lstrip().startswith("#")]
    marked = [line for line in settings if "CHANGE-ME" in line]
    assert marked and all(CHANGE_ME.search(line) for line in marked), marked
    assert all("CHANGE-ME" in line for line in settings if CHANGE_ME.search(line))


def test_plans_are_keyed_by_pull_request_and_head_commit_and_the_comment_names_the_commit() -> None:
    gh = yaml.safe_load((EXAMPLES / "ci" / "github" / "reconciler-plan.yml").read_text())
    steps = gh["jobs"]["plan"]["steps"]
    assert steps[0]["with"]["ref"] == "${{ github.event.pull_request.head.sha }}"  # planned: the head commit
    plan = next(s for s in steps if s.get("id") == "plan")
    assert plan["env"]["PLAN_URL"] == ("s3://${{ env.PLAN_BUCKET }}/plans/pr-${{ github.event.pull_request.number }}/"
                                       "${{ github.event.pull_request.head.sha }}/plan.json")
    comment = next(s for s in steps if str(s.get("uses", "")).startswith("actions/github-script@"))
    assert comment["env"]["HEAD_SHA"] == "${{ github.event.pull_request.head.sha }}"
    assert "Plan of commit ${process.env.HEAD_SHA}" in comment["with"]["script"]
    gl = yaml.safe_load((EXAMPLES / "ci" / "gitlab" / "gitlab-ci.yml").read_text())
    script = "\n".join(gl["plan"]["script"])
    assert 'HEAD_SHA="${CI_MERGE_REQUEST_SOURCE_BRANCH_SHA:-$CI_COMMIT_SHA}"' in script
    assert 'PLAN_URL="s3://$PLAN_BUCKET/plans/mr-$CI_MERGE_REQUEST_IID/$HEAD_SHA/plan.json"' in script
    assert 'f"Plan of commit {sha}' in script


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
SAVED = ("reconciler apply s3://{bucket}/{key} --journal s3://{bucket}/journals/ "
         f"--state s3://{{bucket}}/{STATE_KEY}")
REPLAN = f"reconciler apply specs/ --auto-approve --journal s3://{{bucket}}/journals/ --state s3://{{bucket}}/{STATE_KEY}"
FALLBACK_CASES = {
    # name: (pull request number, exit of the saved-plan apply, exit of the re-planned apply)
    #       -> (job exit, the commands run)
    "the plan of the merged head applies": (("42", 0, 0), (0, [SAVED])),
    "stale plan: re-plan and apply": (("42", 3, 0), (0, [SAVED, REPLAN])),
    "stale plan, the re-plan fails": (("42", 3, 1), (1, [SAVED, REPLAN])),
    "missing, refused or another commit's plan (exit 1): fail": (("42", 1, 0), (1, [SAVED])),
    "interrupted apply (exit 130)": (("42", 130, 0), (130, [SAVED])),
    "no pull request: fail, apply nothing": (("", 0, 0), (1, [])),
}


@pytest.mark.parametrize("recipe", CI_SYSTEMS)
@pytest.mark.parametrize(("given", "expected"), FALLBACK_CASES.values(), ids=FALLBACK_CASES.keys())
def test_the_apply_step_applies_the_merged_heads_plan_and_re_plans_only_a_stale_one(
    tmp_path: Path, recipe: str, given: tuple[str, int, int], expected: tuple[int, list[str]]
) -> None:
    """The apply step's own shell text, run by bash with a fake `reconciler` on PATH (and for GitLab the
    stand-in API that says which merge request was merged as the commit)."""
    number, saved_exit, specs_exit = given
    job_exit, commands = expected
    bindir = tmp_path / "bin"
    bindir.mkdir()
    recorder(bindir, "reconciler", f'case "$2" in s3://*) exit {saved_exit};; esac; exit {specs_exit}')
    calls = tmp_path / "calls"
    calls.touch()
    with gitlab_api() as gitlab:
        step = apply_step(recipe, number, gitlab)
        assert step.env["PLAN_BUCKET"] == BUCKET and step.plan_key.endswith(f"/{HEAD}/plan.json")
        done = run_step(step, {"PATH": f"{bindir}:/usr/bin:/bin", "CALLS": str(calls)}, tmp_path)
    assert done.returncode == job_exit, done.stdout + done.stderr
    assert calls.read_text().splitlines() == [c.format(bucket=BUCKET, key=step.plan_key) for c in commands]
    if number:  # the log names the commit whose plan it applies
        assert HEAD in done.stdout
    else:
        assert "no merged" in done.stdout and "no reviewed plan" in done.stdout


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
        elif st["Sid"] == PLAN_READ_SID:
            assert actions == ["s3:GetObject"] and resources == ["arn:aws:s3:::my-reconciler-plans/plans/*"]
        elif st["Sid"] == STATE_LIST_SID:
            assert actions == ["s3:ListBucket"] and resources == ["arn:aws:s3:::my-reconciler-plans"]
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
               if st["Sid"] not in (STORAGE_SID, PLAN_READ_SID, STATE_LIST_SID, REPLACE_SID)
               for a in st["Action"]}
    assert actions == expected
    replace = {a for st in statements(EXAMPLES / "iam" / name) if st["Sid"] == REPLACE_SID for a in st["Action"]}
    assert replace == (REPLACE_ACTIONS if name == "reconciler-apply.json" else set())
    assert STATE_LIST_SID in sids  # both keep the drift state (apply --state, drift --state)


@pytest.mark.parametrize(("name", "expected"), [
    # the plan job writes plans/; the drift job reads and writes state/; both upload no journal but may be
    # given --journal by hand
    ("reconciler-read-only.json", {"s3:GetObject plans/*", "s3:PutObject plans/*", "s3:GetObject journals/*",
                                   "s3:PutObject journals/*", "s3:GetObject state/*", "s3:PutObject state/*"}),
    # the apply job reads the plan (never writes one), and reads and writes its journals and the drift state
    ("reconciler-apply.json", {"s3:GetObject plans/*", "s3:GetObject journals/*", "s3:PutObject journals/*",
                               "s3:GetObject state/*", "s3:PutObject state/*"}),
])
def test_policies_grant_exactly_the_objects_the_jobs_read_and_write(name: str, expected: set[str]) -> None:
    granted = {f"{a} {r.removeprefix(f'arn:aws:s3:::{BUCKET}/')}" for st in statements(EXAMPLES / "iam" / name)
               for a in st["Action"] if a in ("s3:GetObject", "s3:PutObject") for r in st["Resource"]}
    assert granted == expected


@pytest.mark.parametrize("script", ["reconciler plan specs/ --no-such-flag > plan.md",
                                    "set +e; reconciler deploy specs/; code=$?"])
def test_the_command_check_catches_a_wrong_command(script: str) -> None:
    (argv,) = list(reconciler_commands(script))
    with pytest.raises(UsageError):
        build_parser().parse_args(argv)
