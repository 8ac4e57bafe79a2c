"""Two locks: requirements.lock pins the runtime dependencies (what `make demo` and users install),
requirements-dev.lock pins the same versions plus the test toolchain (what `make test` installs and
the suite runs in). `make` is asked (`make -n`) which lock each target installs."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from importlib import metadata
from pathlib import Path

import pytest
from packaging.markers import Marker
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[2]
LOCK = ROOT / "requirements.lock"
DEV_LOCK = ROOT / "requirements-dev.lock"
PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==([^\s;\\]+)(?: ; ([^\\]+))?")
RUNTIME = ("boto3", "botocore", "pyyaml", "jsonschema", "deepdiff", "pydicom")
TOOLCHAIN = ("pytest", "pytest-xdist", "moto", "awscli", "hypothesis", "mypy", "ruff", "import-linter")
needs_make = pytest.mark.skipif(shutil.which("make") is None, reason="needs make")


def _pinned(lock: Path) -> dict[str, tuple[str, frozenset[str]]]:
    """Name -> (version, hashes) of every pin whose environment marker holds here (the locks are universal)."""
    pinned = {}
    for block in re.split(r"\n(?=[A-Za-z0-9])", lock.read_text()):
        found = PIN.match(block)
        if found and (found[3] is None or Marker(found[3].strip()).evaluate()):
            pinned[canonicalize_name(found[1])] = (found[2], frozenset(re.findall(r"--hash=(sha256:\w+)", block)))
    return pinned


def _pins(lock: Path) -> dict[str, str]:
    return {name: version for name, (version, _hashes) in _pinned(lock).items()}


def _runtime_closure() -> set[str]:
    """Every distribution the package's own dependencies need here, transitively (no extras)."""
    seen: set[str] = set()
    todo = [Requirement(r) for r in metadata.requires("imageset-reconciler") or []]
    while todo:
        req = todo.pop()
        if req.marker is not None and not req.marker.evaluate({"extra": ""}):
            continue
        name = canonicalize_name(req.name)
        if name not in seen:
            seen.add(name)
            todo += [Requirement(r) for r in metadata.requires(name) or []]
    return seen


@pytest.mark.parametrize("lock", [LOCK, DEV_LOCK], ids=lambda p: p.name)
def test_every_pin_has_hashes(lock: Path) -> None:
    blocks = [b for b in re.split(r"\n(?=[A-Za-z0-9])", lock.read_text()) if PIN.match(b)]
    assert blocks
    unhashed = [b.split("==")[0] for b in blocks if "--hash=sha256:" not in b]
    assert not unhashed, f"pins without hashes in {lock.name}: {unhashed}"


def test_the_runtime_lock_pins_what_the_package_needs_and_no_test_tool() -> None:
    pins = set(_pins(LOCK))
    needed = _runtime_closure()
    assert set(RUNTIME) <= needed
    assert needed - pins == set(), "runtime dependencies missing from requirements.lock (run `make lock`)"
    assert pins - needed == set(), "requirements.lock pins what the package does not need (run `make lock`)"
    assert not pins & set(TOOLCHAIN)


def test_the_dev_lock_holds_the_runtime_lock_and_the_toolchain() -> None:
    runtime, dev = _pinned(LOCK), _pinned(DEV_LOCK)
    assert set(TOOLCHAIN) <= set(dev), "the test toolchain is not pinned in requirements-dev.lock"
    differ = [name for name, pin in runtime.items() if dev.get(name) != pin]
    assert not differ, f"pinned differently (version or hashes) in the two locks (run `make lock`): {differ}"


@pytest.mark.skipif(os.environ.get("RECONCILER_UNLOCKED") == "1", reason="make test-latest: newest releases on purpose")
def test_installed_versions_equal_the_dev_lock() -> None:
    wrong = []
    for name, version in _pins(DEV_LOCK).items():
        try:
            installed = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue  # a pin for another platform or Python (the lock is universal)
        if installed != version:
            wrong.append(f"{name}: installed {installed}, locked {version}")
    assert not wrong, "environment differs from requirements-dev.lock (run `make clean test`): " + "; ".join(wrong)


def _dry_run(tmp_path: Path, *targets: str) -> str:
    """What `make -n TARGETS` would run in a fresh checkout (a venv with nothing installed yet)."""
    shutil.copy(ROOT / "Makefile", tmp_path / "Makefile")
    for name in ("pyproject.toml", LOCK.name, DEV_LOCK.name):
        (tmp_path / name).touch()
    (tmp_path / ".venv" / "bin").mkdir(parents=True)
    (tmp_path / ".venv" / "bin" / "python").touch()
    done = subprocess.run(["make", "-n", *targets], cwd=tmp_path, capture_output=True, text=True, check=True,
                          env={**os.environ, "MAKEFLAGS": ""})
    return done.stdout


@needs_make
def test_make_demo_installs_the_runtime_lock_only(tmp_path: Path) -> None:
    commands = _dry_run(tmp_path, "demo")
    assert f"--require-hashes -r {LOCK.name}" in commands
    assert DEV_LOCK.name not in commands


@needs_make
def test_make_test_installs_the_dev_lock(tmp_path: Path) -> None:
    assert f"--require-hashes -r {DEV_LOCK.name}" in _dry_run(tmp_path, "venv")


@needs_make
def test_make_lock_writes_both_locks_keeping_the_pinned_versions(tmp_path: Path) -> None:
    (tmp_path / ".venv-lock" / "bin").mkdir(parents=True)
    (tmp_path / ".venv-lock" / "bin" / "uv").touch()
    commands = _dry_run(tmp_path, "lock").splitlines()
    compiles = [line for line in commands if " pip compile " in line]
    assert [line.split(" -o ")[-1].strip() for line in compiles] == [DEV_LOCK.name, LOCK.name]
    assert all("--upgrade" not in line for line in compiles)
    assert "--extra test" in compiles[0] and f"--constraint {DEV_LOCK.name}" in compiles[1]
