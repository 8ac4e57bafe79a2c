"""The journal invariants the kill -9 tests check after every kill (tests/e2e and tests/reliability)."""

from __future__ import annotations

import json
from pathlib import Path

from reconciler.apply.journal import read_journal

EVENTS = {"run_started", "planned", "submitting", "submitted", "updated", "converged", "failed", "stale",
          "run_finished"}
LIFECYCLE = ["planned", "submitting", "submitted", "updated", "converged"]


def check_journal(path: Path, *, may_end_badly: bool = True) -> int:
    """Every complete line is one JSON record with a known event; only a torn last line (no newline) may be
    cut; each image set's events follow the lifecycle in order, ending ``failed`` or ``stale`` only when
    MAY_END_BADLY (and never after ``converged``). Returns the number of records (0 without a file)."""
    if not path.exists():
        return 0
    text = path.read_text(encoding="utf-8")
    lines = text.split("\n")
    for line in lines[:-1]:  # every newline-terminated line parses on its own
        assert isinstance(json.loads(line), dict)
    records = read_journal(path)
    complete = text.count("\n")
    assert len(records) in (complete, complete + 1)  # at most the torn last line is missing
    assert all(r["event"] in EVENTS for r in records)
    per_set: dict[str, list[str]] = {}
    for r in records:
        if "imageSetId" in r:
            per_set.setdefault(r["imageSetId"], []).append(r["event"])
    for events in per_set.values():
        ended_badly = may_end_badly and events[-1] in ("failed", "stale")
        done = events[:-1] if ended_badly else events
        assert done == LIFECYCLE[: len(done)], events
        assert not (ended_badly and "converged" in done), events
    return len(records)
