"""The apply step of the CI recipes in examples/ci/, as the CI runner would run it: its shell text, the
shell it runs in, and its environment (tests/unit/test_examples.py and tests/e2e/test_ci_apply.py).

GitHub runs a ``run:`` step without ``shell:`` as ``bash -e {0}`` on Linux
(https://docs.github.com/en/actions/writing-workflows/workflow-syntax-for-github-actions#jobsjob_idstepsshell);
GitLab's runner runs a job's ``script`` lines in one bash with ``set -eo pipefail``
(https://gitlab.com/gitlab-org/gitlab-runner/-/issues/25394)."""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path

import yaml

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
GITHUB_APPLY = EXAMPLES / "ci" / "github" / "reconciler-apply.yml"
GITLAB = EXAMPLES / "ci" / "gitlab" / "gitlab-ci.yml"
RECIPES = ("github", "gitlab")
PR_EXPRESSION = "${{ steps.pr.outputs.number }}"
KEY_EXPRESSION = "${{ secrets.RECONCILER_REDACTION_KEY }}"
SECRET_KEY = "0123456789abcdef" * 4  # what GitHub would put there: the repository secret


@dataclass(frozen=True)
class Step:
    shell: list[str]
    script: str
    env: dict[str, str]
    plan_key: str  # where the recipe's plan job saved the reviewed plan of this pull/merge request


def apply_step(recipe: str, number: str) -> Step:
    """The apply step of RECIPE after the merge of pull/merge request NUMBER ("" for a direct push)."""
    if recipe == "github":
        doc = yaml.safe_load(GITHUB_APPLY.read_text(encoding="utf-8"))
        job = doc["jobs"]["apply"]
        (step,) = [s for s in job["steps"] if "reconciler apply" in s.get("run", "")]
        env = {**doc.get("env", {}), **job.get("env", {}), **step.get("env", {})}
        env = {k: str(v).replace(PR_EXPRESSION, number).replace(KEY_EXPRESSION, SECRET_KEY) for k, v in env.items()}
        assert not [v for v in env.values() if "${{" in v], env
        return Step(["bash", "-e", "-c"], step["run"], env, f"plans/pr-{number}/plan.json")
    doc = yaml.safe_load(GITLAB.read_text(encoding="utf-8"))
    job = doc["apply"]
    message = "Fix a typo\n" + (f"\nSee merge request radiology/specs!{number}\n" if number else "")
    env = {**{k: str(v) for k, v in {**doc["variables"], **job.get("variables", {})}.items()},
           "CI_COMMIT_MESSAGE": message, "CI_DEFAULT_BRANCH": "main", "CI_COMMIT_BRANCH": "main"}
    return Step(["bash", "-eo", "pipefail", "-c"], "\n".join(job["script"]), env, f"plans/mr-{number}/plan.json")


def run_step(step: Step, env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    """Run the step's shell text with ENV added to its own environment."""
    return subprocess.run([*step.shell, step.script], env={**step.env, **env}, cwd=cwd, capture_output=True,
                          text=True, timeout=300, check=False)


def recorder(bindir: Path, name: str, body: str) -> None:
    """An executable NAME in BINDIR that appends its command line to $CALLS, then runs BODY (sh)."""
    path = bindir / name
    path.write_text(f'#!/bin/sh\nprintf \'%s\\n\' "{name} $*" >> "$CALLS"\n{body}\n', encoding="utf-8")
    path.chmod(0o755)
