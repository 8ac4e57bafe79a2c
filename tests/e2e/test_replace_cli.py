"""Replacement of a primary image set (copy, update the copy, delete the primary, promote, delete the copy)
through the CLI, against the emulator over both transports (in process with ``--local``, and ``emulator
serve``'s HTTP server with real lock times)."""

from __future__ import annotations

import json

from reconciler.apply.journal import read_journal
from tests.support.applyenv import client
from tests.support.journalcheck import check_journal
from tests.support.replaceenv import (
    DS,
    NEW,
    OLD,
    STUDY,
    Env,
    X,
    Y,
    assert_replaced,
    by_id,
    env,
    in_study,
    spec_text,
)

__all__ = ["env"]  # the fixture

STEPS = ["copy_submitting", "copy_submitted", "copied", "copy_updating", "copy_updated", "primary_deleting",
         "primary_deleted", "promoting", "promote_submitted", "promoted", "temp_deleting", "temp_deleted",
         "converged"]


def test_a_patient_name_fix_on_a_primary_converges_through_a_replacement(env: Env) -> None:
    env.spec(spec_text())
    code, out, err = env.cli("plan", "specs", "--format", "json", "--detailed-exitcode")
    assert code == 2, err
    (isp,) = json.loads(out)["image_sets"]
    assert (isp["imageSetId"], isp["action"]) == (X, "replace")

    code, out, err = env.cli("apply", "specs", "--auto-approve", "--format", "json", "--journal", "j/run.jsonl")
    assert code == 0, out + err
    report = json.loads(out)
    (result,) = report["image_sets"]
    new = assert_replaced(env)
    assert (result["imageSetId"], result["status"], result["replacedBy"]) == (X, "replaced", new)
    assert report["cost"]["writes"] == result["requestsSent"] == 5  # copy, update, delete, promote, delete
    assert (report["summary"]["replaced"], report["summary"]["converged"]) == (1, 0)

    records = read_journal(env.root / "j" / "run.jsonl")
    mine = [r for r in records if r.get("imageSetId") == X]
    assert [r["event"] for r in mine] == ["planned", *STEPS]
    assert mine[-1]["replacedBy"] == new and mine[-1]["event"] == "converged"
    assert next(r for r in mine if r["event"] == "copied")["instances"] == 3
    text = (env.root / "j" / "run.jsonl").read_text()
    assert "1.2.840.77" not in text and NEW not in text and OLD not in text  # no UIDs, no values
    check_journal(env.root / "j" / "run.jsonl")

    # a re-plan by the same select finds the new primary image set, in sync
    code, out, err = env.cli("plan", "specs", "--detailed-exitcode")
    assert code == 0, out + err
    assert client(env.store).get_image_set(DS, Y).version_id == "1"  # another study's primary: untouched


def test_the_text_report_says_old_id_to_new_id(env: Env) -> None:
    env.spec(spec_text())
    code, out, err = env.cli("apply", "specs", "--auto-approve", "--journal", "j/run.jsonl")
    assert code == 0, out + err
    new = assert_replaced(env)
    assert f"{DS}/{X} -> {new}" in out
    assert "Apply complete: 0 converged, 1 replaced, 0 unchanged, 0 stale, 0 failed" in out
    assert NEW not in out and OLD not in out


def test_without_the_key_the_plan_error_names_it_and_nothing_is_written(env: Env) -> None:
    path = env.spec(spec_text(allow=False))
    code, out, _ = env.cli("plan", "specs")
    assert code == 1
    assert "`replace: allow`" in out and f"{path.relative_to(env.root)}:1" in out
    code, out, _err = env.cli("apply", "specs", "--auto-approve", "--format", "json")
    assert code == 1
    assert [(r.image_set_id, r.version, r.is_primary) for r, _ in in_study(env)] == [(X, 1, True)]


def test_a_primary_changed_since_the_plan_is_stale_and_nothing_is_written(env: Env) -> None:
    env.spec(spec_text())
    code, out, err = env.cli("plan", "specs", "--out", "plan.json")
    assert code == 0, err
    api = client(env.store)
    api.update_image_set_metadata(DS, X, "1", updatable=b'{"SchemaVersion":1.1,"Study":{"DICOM":'
                                  b'{"StudyDescription":"HEAD"}}}')  # another writer, after the plan
    before = env.ever()
    code, out, err = env.cli("apply", "plan.json", "--format", "json", "--journal", "j/run.jsonl")
    assert code == 3, out + err
    (result,) = json.loads(out)["image_sets"]
    assert (result["status"], result["plannedVersion"], result["currentVersion"]) == ("stale", "1", "2")
    assert env.ever() == before  # no copy was made
    assert [(r.image_set_id, r.version, r.is_primary) for r, _ in in_study(env)] == [(X, 2, True)]
    events = [r["event"] for r in read_journal(env.root / "j" / "run.jsonl")]
    assert "copy_submitting" not in events and "primary_deleting" not in events


def test_an_image_set_id_target_is_replaced_and_the_same_plan_applied_again_finds_it_done(env: Env) -> None:
    env.spec(by_id(X) + "replace: allow\n" + f"desired:\n  Patient:\n    DICOM:\n      PatientName: {NEW}\n")
    code, out, err = env.cli("plan", "specs", "--out", "plan.json")
    assert code == 0, err
    code, out, err = env.cli("apply", "plan.json", "--format", "json", "--journal", "j/run1.jsonl")
    assert code == 0, out + err
    new = assert_replaced(env)
    ever = env.ever()
    code, out, err = env.cli("apply", "plan.json", "--format", "json", "--journal", "j/run2.jsonl")
    assert code == 0, out + err
    (result,) = json.loads(out)["image_sets"]
    assert (result["status"], result["replacedBy"], result["requestsSent"]) == ("replaced", new, 0)
    assert env.ever() == ever  # nothing copied again


def test_a_forced_series_uid_change_is_replaced_and_the_instances_follow_the_new_key(env: Env) -> None:
    env.spec(spec_text(allow=True).replace("replace: allow\n", "replace: allow\nforce: true\n").replace(
        "desired:\n", "desired:\n  Study:\n    Series:\n      1.2.840.77.2:\n        DICOM:\n"
        "          SeriesInstanceUID: 1.2.840.77.9\n"))
    code, out, err = env.cli("apply", "specs", "--auto-approve", "--format", "json", "--journal", "j/run.jsonl")
    assert code == 0, out + err
    live = [(r, d) for r, d in in_study(env)]
    assert [r.is_primary for r, _ in live] == [True]
    series = live[0][1]["Study"]["Series"]
    assert set(series) == {"1.2.840.77.1", "1.2.840.77.9"} and set(series["1.2.840.77.9"]["Instances"]) == \
        {"1.2.840.77.2.1"}
    assert live[0][1]["Study"]["DICOM"]["StudyInstanceUID"] == STUDY
