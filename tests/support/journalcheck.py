"""The journal invariants the kill -9 and interrupt tests check after every run (tests/e2e and tests/reliability)."""

from __future__ import annotations

import itertools
import json
from pathlib import Path

from reconciler.apply.journal import read_journal

EVENTS = {"run_started", "planned", "submitting", "submitted", "updated", "converged", "failed", "stale",
          "not_started", "unfinished", "run_finished", "run_interrupted", "run_aborted"}
LIFECYCLE = ["planned", "submitting", "submitted", "updated", "converged"]
BAD_ENDINGS = ("failed", "stale", "not_started", "unfinished")  # not_started/unfinished: an interrupted run
RUN_ENDINGS = ("run_finished", "run_interrupted", "run_aborted")
# a replacement's steps, in order (``reconciler.apply.replace``); updates of the copy repeat as a pair
# (a member of a replacement group also keeps a pristine copy: ``reconciler.apply.replace_group``)
REPLACE_STEPS = ["copy_submitting", "copy_submitted", "copied", "copy_updating", "copy_updated",
                 "pristine_submitting", "pristine_submitted", "pristine_copied", "primary_deleting",
                 "primary_deleted", "promoting", "promote_submitted", "promote_failed", "promoted", "temp_deleting",
                 "temp_deleted", "pristine_deleting", "pristine_deleted"]
# a group that could not be promoted, restored from its pristine copies
RESTORE_STEPS = ["rollback_deleting", "rollback_deleted", "restore_promoting", "restore_submitted", "restored",
                 "temp_deleting", "temp_deleted", "pristine_deleting", "pristine_deleted", "replace_restored"]
EVENTS |= {*REPLACE_STEPS, *RESTORE_STEPS, "replace_abandoned"}


def check_replacement(events: list[str]) -> None:
    """A replacement's events (after ``planned``): its steps never go back (a re-run starts where the journal
    left it), except the copy's updates (a pair per request) and an abandonment before the primary deletion
    (the copy deleted again, then ``replace_abandoned``); nothing but an ending follows ``converged``."""
    restoring = [i for i, e in enumerate(events) if e in RESTORE_STEPS[:5]]
    if restoring:  # a group restored from its pristine copies: only restore steps (and endings) from there on
        cut = restoring[0]
        check_replacement(events[:cut])
        rest = events[cut:]
        end = rest.index("replace_restored") if "replace_restored" in rest else len(rest)
        assert all(e in RESTORE_STEPS or e in BAD_ENDINGS for e in rest[:end]), events
        check_replacement(rest[end + 1:])
        return
    if "replace_abandoned" in events:  # abandoned before the primary deletion; a new replacement may follow
        cut = events.index("replace_abandoned")
        assert "primary_deleting" not in events[:cut], events
        check_replacement(events[cut + 1:])
        return
    steps = [e for e in events if e in REPLACE_STEPS]
    rank = [REPLACE_STEPS.index(e) for e in steps]
    for a, b in itertools.pairwise(rank):
        pair = {REPLACE_STEPS[a], REPLACE_STEPS[b]} == {"copy_updating", "copy_updated"}
        retry = REPLACE_STEPS[a] == "promote_failed" and REPLACE_STEPS[b] == "promoting"
        assert b >= a or pair or retry, events
    if "converged" in events:
        assert events[-1] == "converged", events


def check_journal(path: Path, *, may_end_badly: bool = True) -> int:
    """Every complete line is one JSON record with a known event; only a torn last line (no newline) may be
    cut; each image set's events follow the lifecycle in order, ending ``failed``, ``stale``, ``not_started``
    or ``unfinished`` only when MAY_END_BADLY (and never after ``converged``); an image set found already
    applied goes from ``planned`` (or a refused ``submitting``) straight to ``converged``; a run-level end
    record, if any, is the last one. Returns the number of records (0 without a file)."""
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
    ends = [n for n, r in enumerate(records) if r["event"] in RUN_ENDINGS]
    assert ends in ([], [len(records) - 1]), [records[n]["event"] for n in ends]
    per_set: dict[str, list[str]] = {}
    replaced = {r["imageSetId"] for r in records if r.get("action") == "replace" or r.get("replacedBy")}
    for r in records:
        if "imageSetId" in r:
            per_set.setdefault(r["imageSetId"], []).append(r["event"])
            if r["event"] == "converged" and r.get("already_applied"):
                before = per_set[r["imageSetId"]][:-1]
                assert before in (["planned"], ["planned", "submitting"]), before
                per_set[r["imageSetId"]] = ["found applied"]
    for image_set, events in per_set.items():
        if image_set in replaced or any(e in REPLACE_STEPS or e == "replace_abandoned" for e in events):
            assert events[0] == "planned" or events[0] in REPLACE_STEPS, events
            check_replacement(events[1:] if events[0] == "planned" else events)
            continue
        if events[0] == "found applied":  # nothing of this run was written to it, and nothing follows
            assert events == ["found applied"], events
            continue
        ended_badly = may_end_badly and events[-1] in BAD_ENDINGS
        done = events[:-1] if ended_badly else events
        assert done == LIFECYCLE[: len(done)], events
        assert not (ended_badly and "converged" in done), events
    return len(records)
