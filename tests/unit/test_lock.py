"""The environment the suite runs in is the one requirements.lock pins (what a fresh machine gets)."""

from __future__ import annotations

import os
import re
from importlib import metadata
from pathlib import Path

import pytest
from packaging.markers import Marker

LOCK = Path(__file__).resolve().parents[2] / "requirements.lock"
PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==([^\s;\\]+)(?: ; ([^\\]+))?")


def _pins() -> dict[str, str]:
    """Name -> version of every pin whose environment marker holds here (the lock is universal)."""
    pins = {}
    for line in LOCK.read_text().splitlines():
        found = PIN.match(line)
        if found and (found[3] is None or Marker(found[3].strip()).evaluate()):
            pins[found[1]] = found[2]
    return pins


def test_lock_pins_every_dependency_with_hashes() -> None:
    pins = _pins()
    for name in ("boto3", "botocore", "pyyaml", "jsonschema", "deepdiff", "pydicom", "pytest", "pytest-xdist",
                 "moto", "awscli", "hypothesis", "mypy", "ruff", "import-linter"):
        assert name in pins, f"{name} is not pinned in requirements.lock"
    blocks = [b for b in re.split(r"\n(?=[A-Za-z0-9])", LOCK.read_text()) if PIN.match(b)]
    unhashed = [b.split("==")[0] for b in blocks if "--hash=sha256:" not in b]
    assert not unhashed, f"pins without hashes: {unhashed}"


@pytest.mark.skipif(os.environ.get("RECONCILER_UNLOCKED") == "1", reason="make test-latest: newest releases on purpose")
def test_installed_versions_equal_the_lock() -> None:
    wrong = []
    for name, version in _pins().items():
        try:
            installed = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue  # a pin for another platform or Python (the lock is universal)
        if installed != version:
            wrong.append(f"{name}: installed {installed}, locked {version}")
    assert not wrong, "environment differs from requirements.lock (run `make clean test`): " + "; ".join(wrong)
