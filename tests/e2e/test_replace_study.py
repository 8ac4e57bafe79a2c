"""A replacement and a study-wide update in one study: the replaced image set takes no part in the study's
study-wide request (which would bump the version its replacement is guarded by); the plan says to apply the
replacement first."""

from __future__ import annotations

import json

from tests.support.primaryenv import A, B, Env, env, head

__all__ = ["env"]  # the fixture

# a Series-level change: A alone is replaced (a Patient-level one would need every primary of the study:
# test_replace_group.py)
SERIES = "  Study:\n    Series:\n      1.2.840.99.1:\n        DICOM:\n          Modality: MR\n"
HEAD_DESC = "  Study:\n    DICOM:\n      StudyDescription: HEAD\n"
BOTH = "  Study:\n    DICOM:\n      StudyDescription: HEAD\n    Series:\n      1.2.840.99.1:\n        DICOM:\n" \
       "          Modality: MR\n"


def test_a_study_wide_update_that_would_touch_a_replaced_image_set_is_a_plan_error(env: Env) -> None:
    env.spec("a.yaml", head(A, "replace: allow\n") + SERIES)
    env.spec("b.yaml", head(B) + HEAD_DESC)
    code, out, err = env.cli("plan", "specs", "--format", "json")
    assert code == 1, err
    plans = {p["imageSetId"]: p for p in json.loads(out)["image_sets"]}
    assert plans[A]["action"] == "replace"
    assert plans[B]["action"] == "error"
    assert f"apply the replacement first (--target {A})" in plans[B]["error"]


def test_a_replaced_image_set_sends_its_study_level_changes_to_its_copy_alone(env: Env) -> None:
    env.spec("a.yaml", head(A, "replace: allow\n") + BOTH)
    code, out, err = env.cli("plan", "specs", "--format", "json")
    assert code == 0, err
    (plan,) = json.loads(out)["image_sets"]
    assert plan["action"] == "replace" and "studyWide" not in plan and plan["requests"] == 1
