"""The learned-rates file: per account, region and operation; 0600; other accounts kept; never fatal."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest

from reconciler.learned import DEFAULT_PATH, ENV, RateMemory, rates_path, recall, remember

KEY = "aws 123456789012 us-east-1"


def test_rates_round_trip_per_key_in_a_0600_file(tmp_path: Path) -> None:
    path = tmp_path / "dir" / "rates.json"
    remember(path, KEY, {"UpdateImageSetMetadata": 9.75})
    remember(path, "aws 123456789012 eu-west-1", {"UpdateImageSetMetadata": 0.25})
    remember(path, KEY, {"GetImageSet": 25.0})
    assert recall(path, KEY) == {"UpdateImageSetMetadata": 9.75, "GetImageSet": 25.0}
    assert recall(path, "aws 123456789012 eu-west-1") == {"UpdateImageSetMetadata": 0.25}
    assert recall(path, "aws 999999999999 us-east-1") == {}
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert [p.name for p in path.parent.iterdir()] == ["rates.json"]  # no temporary file left
    doc = json.loads(path.read_text())
    assert doc["format_version"] == "1"
    assert set(doc["accounts"][KEY]["UpdateImageSetMetadata"]) == {"rate", "learned_at"}


@pytest.mark.parametrize("text", ["not json", "[]", '{"accounts": []}',
                                  json.dumps({"accounts": {KEY: {"Op": {"rate": "x"}}}})])
def test_an_unreadable_file_is_ignored_and_replaced(tmp_path: Path, text: str) -> None:
    path = tmp_path / "rates.json"
    path.write_text(text)
    assert recall(path, KEY) == {}
    remember(path, KEY, {"UpdateImageSetMetadata": 1.0})
    assert recall(path, KEY) == {"UpdateImageSetMetadata": 1.0}


def test_the_path_comes_from_the_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv(ENV, str(tmp_path / "r.json"))
    assert rates_path() == tmp_path / "r.json"
    monkeypatch.setenv(ENV, "off")
    assert rates_path() is None
    monkeypatch.delenv(ENV)
    assert rates_path() == DEFAULT_PATH == Path(".reconciler") / "rates.json"


def test_memory_reads_once_and_saves_under_its_key(tmp_path: Path) -> None:
    path = tmp_path / "rates.json"
    remember(path, KEY, {"UpdateImageSetMetadata": 4.0})
    asked: list[int] = []

    def key() -> str:
        asked.append(1)
        return KEY

    memory = RateMemory(path, key)
    assert memory.recall() == memory.recall() == {"UpdateImageSetMetadata": 4.0}
    assert memory.remember({"UpdateImageSetMetadata": 8.0})
    assert recall(path, KEY) == {"UpdateImageSetMetadata": 8.0}
    assert len(asked) == 1  # the account is asked once (for AWS: one STS call)


def test_memory_without_an_account_or_a_file_reads_and_saves_nothing(tmp_path: Path) -> None:
    def unknown() -> str:
        raise RuntimeError("STS unreachable")

    path = tmp_path / "rates.json"
    remember(path, KEY, {"UpdateImageSetMetadata": 4.0})
    assert RateMemory(path, unknown).recall() == {}
    assert not RateMemory(path, unknown).remember({"UpdateImageSetMetadata": 1.0})
    assert not RateMemory(None, lambda: KEY).remember({"UpdateImageSetMetadata": 1.0})
    assert recall(path, KEY) == {"UpdateImageSetMetadata": 4.0}
