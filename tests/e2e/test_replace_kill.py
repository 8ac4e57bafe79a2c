"""kill -9 of `reconciler apply` at each step boundary of a replacement, then a re-run: it finishes the
replacement from the journal, with no instance lost and exactly one primary image set, and repeats no
completed step. The apply process kills itself (SIGKILL) right after the named journal record is durable
(``RECONCILER_CRASH_AFTER``), so each test stops at its exact boundary; over both transports (a forked apply
on the in-process ``--local`` store, and one against ``emulator serve``'s HTTP server with real lock times)."""

from __future__ import annotations

import json

import pytest

from reconciler.apply.journal import read_journal
from tests.support.applyenv import client
from tests.support.journalcheck import check_journal
from tests.support.killing import killed_run
from tests.support.replaceenv import (
    DS,
    Env,
    X,
    assert_nothing_lost,
    assert_replaced,
    deleting,
    env,
    in_study,
    spec_text,
    wait_quiet,
)

__all__ = ["env"]  # the fixture
pytestmark = pytest.mark.slow  # each runs apply until a kill -9, then again; a few seconds each

# every record of a replacement: a kill after a "before" record leaves its request unsent, after an
# "after" record the step done and the next one not begun
BOUNDARIES = ["copy_submitting", "copy_submitted", "copied", "copy_updating", "copy_updated", "primary_deleting",
              "primary_deleted", "promoting", "promote_submitted", "promoted", "temp_deleting", "temp_deleted"]
# the step each "after" record completes, by the record sent before its request
DONE_BEFORE = {"copy_submitted": "copy_submitting", "copy_updated": "copy_updating",
               "primary_deleted": "primary_deleting", "promote_submitted": "promoting",
               "temp_deleted": "temp_deleting"}


def _kill_at(env: Env, event: str, *target: str) -> list[dict[str, object]]:
    """`reconciler apply TARGET...` killed (SIGKILL) right after EVENT, in a fork of this process (the
    package imported once: a kill costs no Python start-up); its journal's records."""
    journal = env.root / "j" / "run1.jsonl"
    killed_run(env.backend, journal, event, X, target=target)  # asserts it died right at the boundary
    check_journal(journal)
    return read_journal(journal)


def _after_kill(env: Env) -> None:
    """No instance is held only by image sets being deleted, and never two primaries at once."""
    wait_quiet(env)
    assert_nothing_lost(env)
    primaries = [r.image_set_id for r, _ in in_study(env) if r.is_primary and not deleting(r)]
    assert len(primaries) <= 1, primaries


def _rerun(env: Env, *target: str, note: bool = False) -> list[dict[str, object]]:
    code, out, err = env.cli("apply", *target, "--format", "json", "--journal", "j/run2.jsonl")
    # the specs form, once the primary was deleted: the plan cannot read it; the journal alone continues it
    assert note == (f"image set {X}: continuing its replacement from the journal" in err), err
    assert code == 0, out + err
    results = json.loads(out)["image_sets"]
    assert [r["status"] for r in results if r["imageSetId"] == X] == ["replaced"], results
    check_journal(env.root / "j" / "run2.jsonl")
    return read_journal(env.root / "j" / "run2.jsonl")


def _no_step_repeated(first: list[dict[str, object]], second: list[dict[str, object]]) -> None:
    done = {DONE_BEFORE[str(r["event"])] for r in first if r["event"] in DONE_BEFORE and r["event"] != "copy_updated"}
    again = {str(r["event"]) for r in second} & done
    assert not again, again  # (a request whose answer was not journalled may be sent again: it was not sent)


@pytest.mark.parametrize("event", BOUNDARIES)
def test_kill_9_at_a_step_boundary_then_a_rerun_of_the_specs_finishes_the_replacement(env: Env, event: str) -> None:
    env.spec(spec_text())
    first = _kill_at(env, event, "specs", "--auto-approve")
    _after_kill(env)
    second = _rerun(env, "specs", "--auto-approve", note=BOUNDARIES.index(event) > BOUNDARIES.index("primary_deleting"))
    assert_replaced(env)
    _no_step_repeated(first, second)
    assert len(env.ever()) == 4  # the original, another study's primary, one copy and one promoted: no extras
    code, out, err = env.cli("plan", "specs", "--detailed-exitcode")
    assert code == 0, out + err


@pytest.mark.parametrize("event", ["primary_deleted", "promote_submitted"])
def test_kill_9_then_the_same_saved_plan_applied_again_finishes_it(env: Env, event: str) -> None:
    env.spec(spec_text())
    code, _out, err = env.cli("plan", "specs", "--out", "plan.json")
    assert code == 0, err
    first = _kill_at(env, event, "plan.json")
    _after_kill(env)
    second = _rerun(env, "plan.json")
    assert_replaced(env)
    _no_step_repeated(first, second)
    assert len(env.ever()) == 4


def test_a_copy_sent_but_never_journalled_is_found_in_the_live_state_not_made_twice(env: Env) -> None:
    """A kill between CopyImageSet and its record: the journal ends at ``copy_submitting``, the copy exists.
    The re-run finds it (non-primary, of the study, made after the record, holding the same instances)."""
    env.spec(spec_text())
    first = _kill_at(env, "copy_submitted", "specs", "--auto-approve")
    journal = env.root / "j" / "run1.jsonl"
    journal.write_text("".join(json.dumps(r, separators=(",", ":")) + "\n" for r in first[:-1]))
    second = _rerun(env, "specs", "--auto-approve")
    assert_replaced(env)
    found = [r for r in second if r["event"] == "copy_submitted"]
    assert [r.get("foundLive") for r in found] == [True]
    assert "copy_submitting" not in {str(r["event"]) for r in second}
    assert len(env.ever()) == 4




def test_a_primary_changed_after_a_kill_gets_a_fresh_replacement_and_the_stale_copy_is_deleted(env: Env) -> None:
    env.spec(spec_text())
    first = _kill_at(env, "copied", "specs", "--auto-approve")
    wait_quiet(env)
    client(env.store).update_image_set_metadata(  # another writer, before the re-run: the copy is stale now
        DS, X, "1", updatable=b'{"SchemaVersion":1.1,"Study":{"DICOM":{"StudyDescription":"HEAD"}}}')
    second = _rerun(env, "specs", "--auto-approve")
    assert_replaced(env)
    stale_copy = next(r["copyId"] for r in first if r["event"] == "copied")
    assert [r["event"] for r in second if r.get("copyId") == stale_copy] == [
        "temp_deleting", "temp_deleted", "replace_abandoned"]
    assert len(env.ever()) == 5  # the original, another study's primary, the stale copy, a new copy, the new one
