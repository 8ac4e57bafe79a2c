"""Dead or unreachable endpoints, wrong credentials, a missing datastore, a deleted image set.

Each is run through the real CLI in a subprocess (its ``timeout=`` is the hang detector): exit 1, a
one-line ``error:`` on stderr (or, where the plan itself reports per-image-set errors, a plan naming
the image set and why), no traceback, and an end within the retry budget (attempts are counted, not
timed).
"""

from __future__ import annotations

import contextlib
import re
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from reconciler.emulator.store import Store
from tests.support.relenv import CLI_RATES, DS, image_set_id, run, seed, serve, write_specs

SHORT = ["--connect-timeout", "0.5", "--read-timeout", "0.3"]
# a hang detector, not a measurement: the retry budget is 8 attempts of 0.3 s plus full-jitter backoff
# of at most 0.25 * (2**7 - 1) s; the tests count attempts instead of timing them
HANG_GUARD = 300


def _commands(tmp_path: Path, ids: list[str]) -> dict[str, list[str]]:
    specs = str(write_specs(tmp_path / "specs", "E", ids))
    return {
        "plan": ["plan", specs],
        "apply": ["apply", specs, "--auto-approve", "--journal", "j.jsonl"],
        "drift": ["drift", specs],
        "history": ["history", "--datastore-id", DS, "--image-set-id", ids[0]],
        "import": ["import", "--datastore-id", DS, "--image-set-id", ids[0]],
    }


def _one_line_error(stderr: str) -> str:
    assert "Traceback" not in stderr
    lines = [line for line in stderr.splitlines() if line.strip()]
    errors = [line for line in lines if line.startswith("error: ")]
    assert len(errors) == 1, stderr
    return errors[0]


@pytest.fixture
def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
    return port  # nothing listens there any more: connections are refused


@dataclass
class SilentPort:
    """A port that accepts connections but never answers a byte; ``accepted`` counts them."""

    port: int
    accepted: list[socket.socket] = field(default_factory=list)


@pytest.fixture
def silent_port() -> Iterator[SilentPort]:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen(64)
        silent = SilentPort(s.getsockname()[1])

        def accept() -> None:
            with contextlib.suppress(OSError):  # the listening socket closed: the test is over
                while True:
                    silent.accepted.append(s.accept()[0])

        threading.Thread(target=accept, daemon=True).start()
        yield silent
    for conn in silent.accepted:
        conn.close()


def _attempts(line: str) -> int:
    found = re.search(r"after (\d+) attempts", line)
    assert found, line
    return int(found.group(1))


@pytest.mark.parametrize("command", ["plan", "apply", "drift", "history", "import"])
def test_a_closed_port_is_one_line_and_exit_1_at_once(tmp_path: Path, closed_port: int, command: str) -> None:
    """"At once": a refused connection is retried a few times, not through the whole retry budget."""
    argv = _commands(tmp_path, [image_set_id(1), image_set_id(2)])[command]
    proc = run(tmp_path, *argv, "--endpoint-url", f"http://127.0.0.1:{closed_port}", *SHORT, timeout=HANG_GUARD)
    assert proc.returncode == 1
    line = _one_line_error(proc.stderr)
    assert f"127.0.0.1:{closed_port}" in line and "connection failed" in line
    assert _attempts(line) <= 3


@pytest.mark.slow
@pytest.mark.parametrize("command", ["history", "plan"])
def test_a_port_that_never_answers_fails_within_the_read_timeout_budget(
    tmp_path: Path, silent_port: SilentPort, command: str
) -> None:
    """A silent server gets the retry budget (8 attempts), each its own connection, then one error."""
    argv = _commands(tmp_path, [image_set_id(1)])[command]
    proc = run(tmp_path, *argv, "--endpoint-url", f"http://127.0.0.1:{silent_port.port}", *SHORT,
               "--parallelism", "1", timeout=HANG_GUARD)
    assert proc.returncode == 1
    line = _one_line_error(proc.stderr)
    assert "read timeout" in line and _attempts(line) == 8
    assert len(silent_port.accepted) == 8  # no attempt beyond the budget, none hidden


def test_wrong_credentials_against_serve(tmp_path: Path) -> None:
    store = tmp_path / "store"
    ids = seed(store, 2)
    commands = _commands(tmp_path, ids)
    with serve(store, tmp_path) as served:
        for name, argv in commands.items():
            proc = run(tmp_path, *argv, "--endpoint-url", served.url, *SHORT, *CLI_RATES,
                       secret="expired-or-wrong", timeout=60)
            assert proc.returncode == 1, name
            line = _one_line_error(proc.stderr)
            assert "expired-or-wrong" not in proc.stdout + proc.stderr
            assert "signature" in line.lower() or "credential" in line.lower(), line
    assert all(len(Store(store).list_versions(DS, i, now=time.time())) == 1 for i in ids)  # nothing written


@pytest.mark.parametrize("command", ["plan", "apply", "drift", "history", "import"])
@pytest.mark.parametrize("problem", ["missing datastore", "deleted image set"])
def test_missing_datastore_and_deleted_image_set(tmp_path: Path, command: str, problem: str) -> None:
    store = tmp_path / "store"
    ids = seed(store, 1)
    if problem == "deleted image set":
        Store(store).delete_image_set(DS, ids[0], now=time.time())
    else:  # a store without that datastore
        store = tmp_path / "empty"
        Store(store)
    argv = _commands(tmp_path, ids)[command]
    proc = run(tmp_path, *argv, "--local", str(store), *CLI_RATES, timeout=60)
    if (command, problem) == ("history", "deleted image set"):  # history says when (GetImageSet still answers)
        assert proc.returncode == 0, proc.stdout + proc.stderr
        assert f"Image set {ids[0]} in datastore {DS} was deleted at " in proc.stdout
        assert "state DELETED" in proc.stdout and "Traceback" not in proc.stderr
        return
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "Traceback" not in proc.stderr
    if command in ("history", "import"):
        line = _one_line_error(proc.stderr)
    else:  # the plan reports the failing image set itself, with its reason
        line = next(x for x in proc.stdout.splitlines() if ids[0] in x and ("DELETED" in x or "not" in x))
    assert ids[0] in line or DS in line
    assert ("DELETED" in line or "not found" in line or "does not exist" in line), line
