"""Fixtures of the apply unit tests (the fake API itself lives in tests/support/applyfakes.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from reconciler.apply.journal import Journal
from tests.support.applyfakes import FakeAPI, three_sets


@pytest.fixture
def api() -> FakeAPI:
    return three_sets()


@pytest.fixture
def journal(tmp_path: Path) -> Journal:
    j = Journal(tmp_path / "journal" / "run.jsonl")
    yield j
    j.close()
