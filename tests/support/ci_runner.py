"""gitlab-ci-local, the CI runner the suite runs the GitLab recipe with (tests/e2e/test_gitlab_ci_local.py):
where `make ci-runner` installs it, and what a machine lacks to run it. Without it the test is skipped with
what to install; where ``CI`` is set it fails instead, so that a CI machine never passes without running it."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
RUNNER = ROOT / ".ci" / "gitlab-ci-local" / "node_modules" / ".bin" / "gitlab-ci-local"


def missing_tools(which: Callable[[str], str | None] = shutil.which, runner: Path = RUNNER) -> list[str]:
    """What to install before the runner can run the recipe (nothing: an empty list)."""
    missing = []
    if which("node") is None or which("npm") is None:
        missing.append("Node 20 with npm (e.g. `apt-get install nodejs npm`), then `make ci-runner`")
    elif not runner.exists():
        missing.append("gitlab-ci-local: run `make test` or `make ci-runner` (npm ci in .ci/gitlab-ci-local)")
    if which("rsync") is None:
        missing.append("rsync (`apt-get install rsync`; .ci/run installs it where it runs as root on Debian)")
    if which("git") is None:
        missing.append("git")
    return missing


def require_runner(in_ci: bool, which: Callable[[str], str | None] = shutil.which, runner: Path = RUNNER) -> None:
    """Skip the calling test, saying what to install, where the runner cannot run; fail instead in CI."""
    missing = missing_tools(which, runner)
    if not missing:
        return
    message = "the gitlab-ci-local test needs " + "; ".join(missing)
    if in_ci:
        pytest.fail(f"{message} (CI is set: the shipped GitLab recipe must run here)")
    pytest.skip(message)
