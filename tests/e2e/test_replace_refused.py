"""What a primary image set refuses besides Patient/Series levels and UIDs (``reconciler.dicom.primary``):
a change that needs force, and a whole series removed. Each is "refused on primary": a plan error naming
the rule, or a replacement where the document says ``replace: allow`` (both transports, applied for real)."""

from __future__ import annotations

import json

import pytest

from reconciler.dicom.primary import UPDATE_PAGE
from tests.support.replaceenv import DS, Env, X, by_id, env, in_study, instances, wait_quiet

__all__ = ["env"]  # the fixture

FORCED = "force: true\ndesired:\n  Study:\n    DICOM:\n      StudyID: S77\n"  # StudyID needs force
SERIES_GONE = "desired:\n  Study:\n    Series:\n      1.2.840.77.2: null\n"  # the whole second series
CASES = {"force": (FORCED, "force cannot be used on a primary image set"),
         "series-removal": (SERIES_GONE, "a whole series cannot be removed from a primary image set")}


@pytest.mark.parametrize("case", sorted(CASES))
def test_without_replace_allow_it_is_a_plan_error_naming_the_rule(env: Env, case: str) -> None:
    body, rule = CASES[case]
    env.spec(by_id(X) + body)
    code, out, err = env.cli("plan", "specs", "--format", "json")
    assert code == 1, out + err
    (plan,) = json.loads(out)["image_sets"]
    assert plan["action"] == "error" and rule in plan["error"] and "replace: allow" in plan["error"]
    assert UPDATE_PAGE in plan["error"] and "S77" not in plan["error"]
    assert plan["changes"][0]["check"] == "refused on primary"


@pytest.mark.parametrize("case", sorted(CASES))
def test_with_replace_allow_it_is_replaced_and_the_new_primary_holds_it(env: Env, case: str) -> None:
    body, rule = CASES[case]
    env.spec(by_id(X) + "replace: allow\n" + body)
    code, out, err = env.cli("plan", "specs")
    assert code == 0 and f"forces replacement: {rule}" in out, out + err
    code, out, err = env.cli("apply", "specs", "--auto-approve", "--format", "json")
    assert code == 0, out + err
    (result,) = [r for r in json.loads(out)["image_sets"] if r["imageSetId"] == X]
    assert result["status"] == "replaced"
    wait_quiet(env)
    (row, doc), = [(r, d) for r, d in in_study(env) if r.image_set_id == result["replacedBy"]]
    assert row.is_primary
    if case == "force":
        assert doc["Study"]["DICOM"]["StudyID"] == "S77"
    else:
        assert {s for s, _i in instances(doc)} == {"1.2.840.77.1"}
    assert {r.image_set_id for r, _d in in_study(env)} == {result["replacedBy"]}  # no copy left, X gone


__all__ += ["DS"]
