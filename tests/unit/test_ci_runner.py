"""The gitlab-ci-local test is skipped, saying what to install, on a machine without Node, the installed
runner, rsync or git; where CI is set it fails instead."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from tests.support.ci_runner import missing_tools, require_runner


def which_all_but(*absent: str) -> Callable[[str], str | None]:
    return lambda name: None if name in absent else f"/usr/bin/{name}"


@pytest.mark.parametrize(("absent", "says"), [
    (("node",), "Node 20 with npm"),
    (("npm",), "Node 20 with npm"),
    (("rsync",), "`apt-get install rsync`"),
    (("git",), "git"),
])
def test_each_missing_tool_is_named_with_what_to_install(tmp_path: Path, absent: tuple[str, ...], says: str) -> None:
    runner = tmp_path / "gitlab-ci-local"
    runner.touch()
    (missing,) = missing_tools(which_all_but(*absent), runner)
    assert says in missing


def test_a_runner_not_installed_says_to_run_make(tmp_path: Path) -> None:
    (missing,) = missing_tools(which_all_but(), tmp_path / "absent")
    assert "make ci-runner" in missing


def test_without_a_tool_the_test_is_skipped_outside_ci_and_fails_in_ci(tmp_path: Path) -> None:
    runner = tmp_path / "gitlab-ci-local"
    runner.touch()
    with pytest.raises(pytest.skip.Exception, match="needs rsync"):
        require_runner(False, which_all_but("rsync"), runner)
    with pytest.raises(pytest.fail.Exception, match=r"needs rsync.*CI is set"):
        require_runner(True, which_all_but("rsync"), runner)


def test_with_every_tool_nothing_is_skipped(tmp_path: Path) -> None:
    runner = tmp_path / "gitlab-ci-local"
    runner.touch()
    require_runner(True, which_all_but(), runner)  # returns: the test runs
