"""Replacement groups end to end, over both transports: a Patient-level change on a study with two primary
image sets is planned as one group (or a plan error naming the uncovered sibling), applied in the fail-safe
order, and restored from the pristine copies when a promotion is refused."""

from __future__ import annotations

import json

from reconciler.apply.journal import read_journal
from tests.support import forked
from tests.support.groupenv import (
    INSTANCES,
    MEMBERS,
    SELECT,
    X2,
    Z,
    add_third_primary,
    assert_group_replaced,
    assert_nothing_lost,
    genv,
    held_by_primaries,
    primaries,
)
from tests.support.replaceenv import DS, NEW, OLD, Env, X, by_id, in_study
from tests.unit.render.test_replacement_output import schema_validate

__all__ = ["genv"]  # the fixture

PATIENT = f"replace: allow\ndesired:\n  Patient:\n    DICOM:\n      PatientName: {NEW}\n"


def test_a_patient_fix_on_one_primary_of_a_two_primary_study_is_a_plan_error_naming_the_sibling(genv: Env) -> None:
    genv.spec(by_id(X) + PATIENT)
    code, out, err = genv.cli("plan", "specs", "--format", "json")
    assert code == 1, err
    (plan,) = json.loads(out)["image_sets"]
    assert plan["action"] == "error"
    assert X2 in plan["error"] and "specs/x.yaml:" in plan["error"] and NEW not in plan["error"]
    code, out, err = genv.cli("apply", "specs", "--auto-approve")
    assert code == 1
    assert [(r.image_set_id, r.version) for r, _ in in_study(genv)] == [(X2, 1), (X, 1)] or \
        {r.image_set_id for r, _ in in_study(genv)} == {X, X2}  # nothing written
    assert {r.version for r, _ in in_study(genv)} == {1}


def test_a_select_by_study_plans_one_group_with_its_members_writes_and_window(genv: Env) -> None:
    genv.spec(SELECT)
    code, out, err = genv.cli("plan", "specs", "--format", "json")
    assert code == 0, err
    schema_validate(json.loads(out))  # the group object is part of the plan schema
    plans = {p["imageSetId"]: p for p in json.loads(out)["image_sets"]}
    assert {i: p["action"] for i, p in plans.items()} == {X: "replace", X2: "replace"}
    group = plans[X]["replacement"]["group"]
    assert group["members"] == list(MEMBERS) and group["writes"] == 2 * (1 + 6)
    assert group["noPrimarySeconds"] > 0 and group["seconds"] > group["noPrimarySeconds"]
    assert [s["step"] for s in plans[X]["replacement"]["steps"]] == [
        "copy", "update_copy", "pristine_copy", "delete_primary", "promote", "delete_copy", "delete_pristine"]
    code, text, err = genv.cli("plan", "specs")
    assert code == 0 and "group: the study's primary image sets" in text and "no primary image set for about" in text


def test_a_group_is_applied_in_the_fail_safe_order_and_a_rerun_has_nothing_to_do(genv: Env) -> None:
    genv.spec(SELECT)
    code, out, err = genv.cli("apply", "specs", "--auto-approve", "--format", "json", "--journal", "j/run.jsonl")
    assert code == 0, out + err
    results = {r["imageSetId"]: r for r in json.loads(out)["image_sets"]}
    assert {r["status"] for r in results.values()} == {"replaced"}
    new_ids = assert_group_replaced(genv)
    assert sorted(r["replacedBy"] for r in results.values()) == sorted(new_ids)
    steps = [(r["event"], r["imageSetId"]) for r in read_journal(genv.root / "j" / "run.jsonl")
             if r["event"] in ("copy_updated", "pristine_copied", "primary_deleting", "promoting", "promoted")]
    first, second = [s for s in steps if s[1] == MEMBERS[0]], [s for s in steps if s[1] == MEMBERS[1]]
    order = [e for e, _ in steps]
    # every copy made and verified before any original is deleted; every original deleted before a promotion
    assert max(i for i, e in enumerate(order) if e in ("copy_updated", "pristine_copied")) < order.index(
        "primary_deleting")
    assert max(i for i, e in enumerate(order) if e == "primary_deleting") < order.index("promoting")
    assert len(first) == len(second) == 5
    code, out, err = genv.cli("plan", "specs", "--detailed-exitcode")
    assert code == 0, out + err


def test_a_refused_promotion_restores_the_group_from_the_pristine_copies(genv: Env) -> None:
    """A third primary joins the study after the originals are deleted (the run is killed there): the
    re-run's promotion is refused (409), so it promotes the pristine copies back: every series ends in a
    primary image set with its original metadata, exit 1 says what was restored."""
    import os
    import signal

    genv.spec(SELECT)
    environ = {k: v for k, v in os.environ.items() if not k.startswith("RECONCILER_")}
    environ["RECONCILER_CRASH_AFTER"] = f"primary_deleted:{MEMBERS[1]}"
    proc = forked.run([*forked.PREFIX, "apply", "specs", "--auto-approve", "--journal",
                           "j/run1.jsonl", *genv.backend, *_rates()], env=environ, cwd=genv.root,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == -signal.SIGKILL, proc.stdout + proc.stderr
    add_third_primary(genv)
    code, out, err = genv.cli("apply", "specs", "--auto-approve", "--format", "json", "--journal", "j/run2.jsonl")
    assert code == 1, out + err
    results = {r["imageSetId"]: r for r in json.loads(out)["image_sets"] if r["imageSetId"] in (X, X2)}
    assert {r["status"] for r in results.values()} == {"failed"}
    for r in results.values():
        assert "restored: image set" in r["message"] and "nothing is left to do" in r["message"]
    assert held_by_primaries(genv) >= INSTANCES  # every series in a primary image set
    assert {name for _i, name, _s in primaries(genv)} == {OLD}  # the original metadata, the study consistent
    assert_nothing_lost(genv)
    assert len(primaries(genv)) == 3 and Z in {i for i, _n, _s in primaries(genv)}
    events = [r["event"] for r in read_journal(genv.root / "j" / "run2.jsonl")]
    assert events.count("restored") == 2 and events.count("replace_restored") == 2
    # a re-run converges: the select now covers all three primaries of the study, as one group
    code, out, err = genv.cli("apply", "specs", "--auto-approve", "--format", "json")
    assert code == 0, out + err
    assert {name for _i, name, _s in primaries(genv)} == {NEW} and len(primaries(genv)) == 3


def _rates() -> list[str]:
    from tests.support.replaceenv import RATES
    return RATES


__all__ += ["DS"]


def test_study_wide_false_on_a_study_with_other_primaries_warns_that_they_will_disagree(genv: Env) -> None:
    genv.spec(by_id(X) + "studyWide: false\ndesired:\n  Study:\n    DICOM:\n      StudyDescription: HEAD\n")
    code, _out, err = genv.cli("plan", "specs", "--format", "json")
    assert code == 0, err
    (line,) = [w for w in err.splitlines() if "studyWide: false" in w]
    assert line.startswith("warning: ") and X in line and X2 in line and "will disagree" in line
    assert "HEAD" not in line
