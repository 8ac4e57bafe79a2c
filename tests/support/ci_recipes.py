"""The apply step of the CI recipes in examples/ci/, as the CI runner would run it: its shell text, the
shell it runs in, and its environment (tests/unit/test_examples.py and tests/e2e/test_ci_apply.py).

GitHub runs a ``run:`` step without ``shell:`` as ``bash -e {0}`` on Linux
(https://docs.github.com/en/actions/writing-workflows/workflow-syntax-for-github-actions#jobsjob_idstepsshell);
GitLab's runner runs a job's ``script`` lines in one bash with ``set -eo pipefail``
(https://gitlab.com/gitlab-org/gitlab-runner/-/issues/25394)."""

from __future__ import annotations

import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import yaml

from tests.support.gitlab_api import PROJECT, TOKEN, GitLab

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
GITHUB_APPLY = EXAMPLES / "ci" / "github" / "reconciler-apply.yml"
GITLAB = EXAMPLES / "ci" / "gitlab" / "gitlab-ci.yml"
RECIPES = ("github", "gitlab")
EXPRESSIONS = {"${{ steps.pr.outputs.number }}": "number", "${{ steps.pr.outputs.head }}": "head"}
KEY_EXPRESSION = "${{ secrets.RECONCILER_REDACTION_KEY }}"
SECRET_KEY = "0123456789abcdef" * 4  # what GitHub would put there, and GitLab export: the secret
HEAD = "4b825dc642cb6eb9a060e54bf8d69288fbee4904"  # the head commit of the pull/merge request
MERGED = "9fceb02d0ae598e95dc970b74767f19372d61af8"  # the commit it was merged as
STATE_KEY = "state/drift.jsonl"  # where the drift recipes keep their state, under the plan bucket


@dataclass(frozen=True)
class Step:
    shell: list[str]
    script: str
    env: dict[str, str]
    plan_key: str  # where the recipe's plan job saved the plan of the merged head commit


def apply_step(recipe: str, number: str, gitlab: GitLab | None = None, head: str = HEAD) -> Step:
    """The apply step of RECIPE after the merge of pull/merge request NUMBER, made from its head commit HEAD
    ("" for a push without one). GitLab's job asks the API at GITLAB (a stand-in) which merge request was
    merged; GitHub's step gets it from the step before, which asks `gh api`."""
    if recipe == "github":
        doc = yaml.safe_load(GITHUB_APPLY.read_text(encoding="utf-8"))
        job = doc["jobs"]["apply"]
        (step,) = [s for s in job["steps"] if "reconciler apply" in s.get("run", "")]
        env = {**doc.get("env", {}), **job.get("env", {}), **step.get("env", {})}
        given = {"number": number, "head": head if number else ""}
        for expression, name in EXPRESSIONS.items():
            env = {k: str(v).replace(expression, given[name]) for k, v in env.items()}
        env = {k: v.replace(KEY_EXPRESSION, SECRET_KEY) for k, v in env.items()}
        script = step["run"].replace("${{ github.sha }}", MERGED)
        assert not [v for v in [*env.values(), script] if "${{" in v], env
        return Step(["bash", "-e", "-c"], script, env, f"plans/pr-{number}/{head}/plan.json")
    assert gitlab is not None
    if number:
        gitlab.merge(MERGED, int(number), head)
    doc = yaml.safe_load(GITLAB.read_text(encoding="utf-8"))
    job = doc["apply"]
    variables = {k: str(v) for k, v in {**doc["variables"], **job.get("variables", {})}.items()}
    env = {"CI_DEFAULT_BRANCH": "main", "CI_COMMIT_BRANCH": "main", "CI_COMMIT_SHA": MERGED,
           "CI_API_V4_URL": gitlab.url, "CI_PROJECT_ID": PROJECT, "GITLAB_API_TOKEN": TOKEN,
           "RECONCILER_REDACTION_KEY": SECRET_KEY}
    for name, value in variables.items():  # GitLab expands the variables that variables name
        env[name] = re.sub(r"\$([A-Z_]+)", lambda m: env.get(m.group(1), m.group(0)), value)
    return Step(["bash", "-eo", "pipefail", "-c"], "\n".join(job["script"]), env, f"plans/mr-{number}/{head}/plan.json")


def run_step(step: Step, env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    """Run the step's shell text with ENV added to its own environment (`python` is this interpreter)."""
    bindir = cwd / ".python-bin"
    bindir.mkdir(exist_ok=True)
    if not (bindir / "python").exists():
        (bindir / "python").symlink_to(sys.executable)
    path = f"{env.get('PATH', '/usr/bin:/bin')}:{bindir}"
    return subprocess.run([*step.shell, step.script], env={**step.env, **env, "PATH": path}, cwd=cwd,
                          capture_output=True, text=True, timeout=300, check=False)


def recorder(bindir: Path, name: str, body: str) -> None:
    """An executable NAME in BINDIR that appends its command line to $CALLS, then runs BODY (sh)."""
    path = bindir / name
    path.write_text(f'#!/bin/sh\nprintf \'%s\\n\' "{name} $*" >> "$CALLS"\n{body}\n', encoding="utf-8")
    path.chmod(0o755)
