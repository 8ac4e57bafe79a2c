"""Suite-wide collection order: tests marked ``slow`` run first.

With pytest-xdist the workers take tests in collection order, so the minute-long chaos and
end-to-end tests start at once and overlap the many short ones, instead of one of them ending the
run alone. Deselect them while iterating with ``pytest -m "not slow"``; CI runs everything.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from pathlib import Path

import pytest


def pytest_configure(config: pytest.Config) -> None:
    # xdist's load scheduler first hands each worker a chunk of consecutive tests (a quarter of its
    # share): all the slow tests, collected first, would go to the first worker and run one after the
    # other. One test at a time (``--maxschedchunk 1``, unless given) spreads them over the workers.
    if getattr(config.option, "maxschedchunk", 0) is None:
        config.option.maxschedchunk = 1


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    items.sort(key=lambda item: item.get_closest_marker("slow") is None)


# Variables a CI runner or a developer's shell may carry that change what the commands do: CI=true
# refuses --show-phi, an endpoint or profile redirects the client, RECONCILER_* picks a store or a key.
# Each test starts without them; a test that needs one sets it with monkeypatch.
_AMBIENT = ("CI", "GITHUB_ACTIONS", "GITLAB_CI", "BUILDKITE", "NO_COLOR", "FORCE_COLOR",
            "AWS_PROFILE", "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_MEDICAL_IMAGING", "AWS_ENDPOINT_URL_S3",
            "RECONCILER_LOCAL", "RECONCILER_REDACTION_KEY", "RECONCILER_DEMO_STORE")


@pytest.fixture(scope="session")
def _home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A home folder of the test session's own: nothing a test runs reads or writes the real one."""
    return tmp_path_factory.mktemp("home")


@pytest.fixture(scope="session")
def _learned(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A new path per test for the rates a run learns: numbered folders of one session folder, not made
    beforehand (``learned.remember`` makes the folder when it saves). ``tmp_path_factory.mktemp`` per
    test would list the whole base folder each time to find the next number."""
    root = tmp_path_factory.mktemp("learned")
    return (root / str(n) / "rates.json" for n in itertools.count())


@pytest.fixture(autouse=True)
def _neutral_environment(monkeypatch: pytest.MonkeyPatch, _home: Path, _learned: Iterator[Path]) -> None:
    for name in _AMBIENT:
        monkeypatch.delenv(name, raising=False)
    # the per-user redaction key (and any other per-user file) lands in the session's home, also for
    # the subprocesses a test starts with this environment
    monkeypatch.setenv("HOME", str(_home))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(_home / ".config"))
    # the rates a run learns are kept per test, never in the working directory nor shared between tests
    monkeypatch.setenv("RECONCILER_RATES_FILE", str(next(_learned)))
