"""The journal: durable JSON lines, private file mode, torn last line tolerated."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest

from reconciler.apply.journal import Journal, JournalError, default_journal_path, read_journal


def test_records_are_json_lines_with_run_and_event(tmp_path: Path) -> None:
    with Journal(tmp_path / "j.jsonl", run_id="r1") as j:
        j.record("planned", imageSetId="i", version="1", skipped=None)
    (rec,) = [json.loads(line) for line in (tmp_path / "j.jsonl").read_text().splitlines()]
    assert {k: rec[k] for k in ("run", "event", "imageSetId", "version")} == {
        "run": "r1", "event": "planned", "imageSetId": "i", "version": "1"}
    assert "skipped" not in rec


def test_file_is_private_and_its_folder_is_created(tmp_path: Path) -> None:
    path = tmp_path / "deep" / "er" / "j.jsonl"
    Journal(path).close()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_default_path_is_under_dot_reconciler_with_a_utc_timestamp() -> None:
    path = default_journal_path()
    assert path.parent == Path(".reconciler/journal")
    assert path.name.startswith("apply-20") and path.name.endswith(".jsonl") and "Z-" in path.name


@pytest.mark.parametrize(
    ("content", "events"),
    [
        ('{"event":"a"}\n{"event":"b"}\n', ["a", "b"]),
        ('{"event":"a"}\n{"event":"b', ["a"]),  # killed mid-write
        ("", []),
    ],
    ids=["complete", "torn-last-line", "empty"],
)
def test_read_journal(tmp_path: Path, content: str, events: list[str]) -> None:
    path = tmp_path / "j.jsonl"
    path.write_text(content)
    assert [r["event"] for r in read_journal(path)] == events


def test_a_bad_line_in_the_middle_is_an_error_naming_the_line(tmp_path: Path) -> None:
    path = tmp_path / "j.jsonl"
    path.write_text('{"event":"a"}\nnot json\n{"event":"b"}\n')
    with pytest.raises(JournalError, match=r"j.jsonl:2"):
        read_journal(path)


def test_unwritable_place_is_a_journal_error(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(JournalError, match="cannot open the apply journal"):
        Journal(blocker / "j.jsonl")
