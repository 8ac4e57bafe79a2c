"""The `emulator` fixture: `reconciler emulator serve` subprocesses, stopped with SIGTERM after the test."""

from __future__ import annotations

import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.conformance.harness import Emulator, start_serve, stop_serve


@pytest.fixture
def emulator(tmp_path: Path) -> Iterator[Callable[..., Emulator]]:
    """Factory: ``emulator(*serve_flags, setup=fn(store))`` loads with ``setup`` first, then serves."""
    started: list[subprocess.Popen[str]] = []

    def start(*flags: str, setup: Callable[[Path], None] | None = None) -> Emulator:
        store = tmp_path / f"store{len(started)}"
        if setup is not None:
            setup(store)
        else:  # no data loaded: serve an empty store, as a user starts a fresh emulator
            flags = ("--init", *flags)
        proc, url = start_serve(store, *flags)
        started.append(proc)
        return Emulator(store, url, proc)

    yield start
    for proc in started:
        stop_serve(proc)
