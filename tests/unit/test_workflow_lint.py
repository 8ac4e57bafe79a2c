"""The GitHub workflows of examples/ci/github/ pass actionlint (https://github.com/rhysd/actionlint: workflow
syntax, expressions and their contexts, job and step outputs, action inputs), run from the npm package
pinned in .ci/node-tools; a workflow with a wrong key or an undefined step output fails it."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from tests.support.ci_runner import ACTIONLINT, ACTIONLINT_CLI, require_tool

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
WORKFLOWS = sorted((EXAMPLES / "ci" / "github").glob("*.yml"))
IN_CI = bool(os.environ.get("CI"))  # read at import: each test starts without it (tests/conftest.py)
BROKEN = """name: broken
on:
  push:
    branchez: [main]
jobs:
  x:
    runs-on: ubuntu-latest
    steps:
      - run: echo "${{ steps.nope.outputs.x }}"
"""


def actionlint(*paths: Path) -> subprocess.CompletedProcess[str]:
    require_tool(IN_CI, installed=ACTIONLINT, rsync=False)
    return subprocess.run(["node", str(ACTIONLINT_CLI), *map(str, paths)], capture_output=True, text=True,
                          timeout=120, check=False)


def test_the_github_workflows_pass_actionlint() -> None:
    assert len(WORKFLOWS) == 3
    done = actionlint(*WORKFLOWS)
    assert (done.returncode, done.stdout, done.stderr) == (0, "", "")


def test_actionlint_finds_a_wrong_key_and_an_undefined_step_output(tmp_path: Path) -> None:
    broken = tmp_path / "broken.yml"
    broken.write_text(BROKEN, encoding="utf-8")
    done = actionlint(broken)
    assert done.returncode == 1, done.stderr
    assert f"{broken}:4:5: unexpected key \"branchez\"" in done.stdout
    assert f"{broken}:9:" in done.stdout and "property \"nope\" is not defined" in done.stdout
