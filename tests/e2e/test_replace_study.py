"""A replacement and a study-wide update in one study: the replaced image set takes no part in the study's
study-wide request (which would bump the version its replacement is guarded by); the plan says to apply the
replacement first."""

from __future__ import annotations

import json

from tests.support.primaryenv import A, B, Env, env, head

__all__ = ["env"]  # the fixture

PATIENT = "  Patient:\n    DICOM:\n      PatientName: NEW^NAME\n"
HEAD_DESC = "  Study:\n    DICOM:\n      StudyDescription: HEAD\n"


def test_a_study_wide_update_that_would_touch_a_replaced_image_set_is_a_plan_error(env: Env) -> None:
    env.spec("a.yaml", head(A, "replace: allow\n") + PATIENT)
    env.spec("b.yaml", head(B) + HEAD_DESC)
    code, out, err = env.cli("plan", "specs", "--format", "json")
    assert code == 1, err
    plans = {p["imageSetId"]: p for p in json.loads(out)["image_sets"]}
    assert plans[A]["action"] == "replace"
    assert plans[B]["action"] == "error"
    assert f"apply the replacement first (--target {A})" in plans[B]["error"]


def test_a_replaced_image_set_sends_its_study_level_changes_to_its_copy_alone(env: Env) -> None:
    env.spec("a.yaml", head(A, "replace: allow\n") + PATIENT + HEAD_DESC)
    code, out, err = env.cli("plan", "specs", "--format", "json")
    assert code == 0, err
    (plan,) = json.loads(out)["image_sets"]
    assert plan["action"] == "replace" and "studyWide" not in plan and plan["requests"] == 1
