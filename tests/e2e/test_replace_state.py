"""`apply --state` records replacements: the selector that found the replaced primary image set finds its new
ID, the old one is retired, and the next `drift --state` is in sync without reading anything; a selector whose
image sets changed for a reason nothing recorded is still drift, and the summary says so. Over both transports
(in process with ``--local``, and ``emulator serve``'s HTTP server)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from reconciler.emulator.store import Store
from tests.support.replaceenv import DS, STUDY, Env, X, assert_replaced, document, env, spec_text

__all__ = ["env"]  # the fixture

OTHER_COPY = "a" * 32  # an image set of the study that no apply made


@pytest.fixture(autouse=True)
def _state_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RECONCILER_STATE_KEY", "a drift state secret for the replacement tests")


def drift(env: Env, *extra: str) -> tuple[int, dict[str, Any]]:
    code, out, err = env.cli("drift", "specs", "--state", "st.jsonl", "--format", "json", *extra)
    assert "Traceback" not in err and out, err
    return code, json.loads(out)


def assert_in_sync_from_state(env: Env, new: str) -> None:
    """The next drift run exits 0, reports no lost or gained image set, and reads nothing: the state holds the
    new image set, verified by the apply."""
    code, report = drift(env)
    assert code == 0, report
    assert "membership" not in report and report["summary"]["selectors_changed"] == 0
    (isp,) = report["image_sets"]
    assert (isp["imageSetId"], isp["action"], isp["unread"]["reason"]) == (new, "none", "state")
    assert report["cost"]["metadata_reads"] == 0
    code, text, _ = env.cli("drift", "specs", "--state", "st.jsonl")
    assert code == 0 and "In sync: no drift." in text and "lost or gained" not in text


def test_apply_of_specs_records_the_replacement_and_the_next_drift_is_in_sync(env: Env) -> None:
    env.spec(spec_text())
    assert drift(env)[0] == 2  # the state records the selector finding X
    code, out, err = env.cli("apply", "specs", "--auto-approve", "--state", "st.jsonl")
    assert code == 0, out + err
    assert "Drift state written to st.jsonl: 1 image set verified in sync." in err
    assert_in_sync_from_state(env, assert_replaced(env))


def test_apply_of_a_saved_plan_records_the_replacement_too(env: Env) -> None:
    env.spec(spec_text())
    assert drift(env)[0] == 2
    code, _, err = env.cli("plan", "specs", "--out", "replace.plan")
    assert code == 0, err
    code, out, err = env.cli("apply", "replace.plan", "--state", "st.jsonl")
    assert code == 0, out + err
    assert_in_sync_from_state(env, assert_replaced(env))


def test_apply_with_a_first_state_records_the_new_image_set(env: Env) -> None:
    env.spec(spec_text())
    code, out, err = env.cli("apply", "specs", "--auto-approve", "--state", "st.jsonl")
    assert code == 0, out + err
    assert_in_sync_from_state(env, assert_replaced(env))


def test_a_selector_change_nothing_recorded_is_drift_and_the_summary_says_so(env: Env) -> None:
    env.spec(spec_text())
    code, out, err = env.cli("apply", "specs", "--auto-approve", "--state", "st.jsonl")
    assert code == 0, out + err
    new = assert_replaced(env)
    # another writer adds an image set of the study (say, a late series), outside the specs
    other = document(name="QQNEW^ZZNAME", first=78)
    Store(env.store).put_image_set(DS, OTHER_COPY, other, is_primary=False)
    code, out, err = env.cli("drift", "specs", "--state", "st.jsonl")
    assert code == 2, out + err
    summary = next(line for line in out.splitlines() if line.startswith("Plan: "))
    assert summary.startswith("Plan: 0 to update, 2 unchanged (1 from the drift state), "
                              "1 selector lost or gained image sets, 0 with errors")
    assert f"gained {OTHER_COPY}" in out and new not in out and X not in out and STUDY not in out
    code, text, _ = env.cli("drift", "specs", "--state", "st.jsonl")
    assert code == 0 and "In sync: no drift." in text  # the state now records what the selector finds


def test_the_json_and_markdown_summaries_count_a_changed_selector(env: Env) -> None:
    env.spec(spec_text())
    assert env.cli("apply", "specs", "--auto-approve", "--state", "st.jsonl")[0] == 0
    Store(env.store).put_image_set(DS, OTHER_COPY, document(name="QQNEW^ZZNAME", first=78), is_primary=False)
    (env.root / "copy.jsonl").write_bytes((env.root / "st.jsonl").read_bytes())
    code, report = drift(env)
    assert code == 2 and report["summary"]["selectors_changed"] == 1
    assert report["summary"]["to_update"] == 0 and [m["joined"] for m in report["membership"]] == [[OTHER_COPY]]
    code, md, _ = env.cli("drift", "specs", "--state", "copy.jsonl", "--format", "markdown")
    assert code == 2
    assert md.startswith("### Drift report: 0 to update, 2 unchanged, 1 selector lost or gained image sets, "
                         "0 with errors")
