"""`drift --state` on primary image sets: an incremental run that takes an image set's version from the drift
state or from the search of what changed still knows whether it is primary, so it refuses what a primary
refuses and finds the study's other primaries it left unread, exactly as a `--refresh` run does."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest

from reconciler.emulator.store import NewVersion, Store
from tests.support.primaryenv import DS, A, B, Env, env, head

__all__ = ["env"]  # the fixture

PATIENT = "  Patient:\n    DICOM:\n      PatientName: NEW^NAME\n"


def study(description: str) -> str:
    return f"  Study:\n    DICOM:\n      StudyDescription: {description}\n"


@pytest.fixture(autouse=True)
def _state_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RECONCILER_STATE_KEY", "a drift state secret for the primary tests")


def drift(env: Env, *extra: str) -> tuple[int, dict[str, Any]]:
    code, out, err = env.cli("drift", "specs", "--format", "json", "--state", "st.jsonl", *extra)
    assert "Traceback" not in err and out, err
    return code, json.loads(out)


def by_id(report: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {p["imageSetId"]: p for p in report["image_sets"]}


def outcome(report: dict[str, Any]) -> dict[str, tuple[str, str | None]]:
    """Per image set: its action and its unread reason (None: its metadata was read)."""
    return {i: (p["action"], p.get("unread", {}).get("reason")) for i, p in by_id(report).items()}


def change_outside(env: Env, image_set_id: str) -> None:
    """Another writer changes a study attribute of the image set, straight in the service."""
    def build(doc: dict[str, Any]) -> NewVersion:
        doc["Study"]["DICOM"]["AccessionNumber"] = "A2"
        return NewVersion(doc, "UPDATED")

    Store(env.store).commit_update(DS, image_set_id, 1, build, now=time.time(), lock_until=0.0)


def test_a_patient_change_on_a_primary_whose_version_the_state_gives_is_refused(env: Env) -> None:
    env.spec("a.yaml", head(A) + study("CHEST"))
    assert drift(env)[0] == 0  # in sync: the state records A at version 1
    env.spec("a.yaml", head(A) + study("CHEST") + PATIENT)  # the desired subtree changed, the version did not
    code, report = drift(env)
    assert code == 1 and report["cost"]["metadata_reads"] == 1
    a = by_id(report)[A]
    assert (a["action"], a["isPrimary"], a["requests"]) == ("error", True, 0)
    assert "refused on primary" in a["error"]
    assert report["state"]["status"] == "used"


def test_a_patient_change_on_a_primary_whose_version_the_search_gives_is_refused(env: Env) -> None:
    env.spec("a.yaml", head(A) + study("CHEST"))
    assert drift(env)[0] == 0
    change_outside(env, A)  # the version moved: version, tier and primary flag come from the search summary
    env.spec("a.yaml", head(A) + study("CHEST") + PATIENT)
    code, report = drift(env)
    assert code == 1 and report["cost"]["image_set_reads"] == 0 and report["cost"]["metadata_reads"] == 1
    a = by_id(report)[A]
    assert (a["action"], a["isPrimary"]) == ("error", True) and "refused on primary" in a["error"]
    assert env.sent == []


def test_a_study_change_that_clashes_with_an_unread_primary_sibling_is_found_as_refresh_finds_it(env: Env) -> None:
    """B was verified in sync with StudyDescription CHEST and is left unread; A's spec now asks for HEAD, which
    can only go out as a study-wide update that would change B too: both are plan errors, as with --refresh."""
    env.spec("a.yaml", head(A) + study("CHEST"))
    env.spec("b.yaml", head(B) + study("CHEST"))
    assert drift(env)[0] == 0
    env.spec("a.yaml", head(A) + study("HEAD"))
    code, incremental = drift(env)
    assert incremental["cost"]["metadata_reads"] == 1  # A only: B's version and desired subtree did not move
    code_refresh, refreshed = drift(env, "--refresh")
    assert (code, code_refresh) == (1, 1)
    assert outcome(incremental) == {A: ("error", None), B: ("error", None)}
    assert {i: p["action"] for i, p in by_id(refreshed).items()} == {A: "error", B: "error"}
    for i in (A, B):
        assert "the study's primary image sets get their study-level values" in by_id(incremental)[i]["error"]


def test_a_study_change_an_unread_primary_sibling_agrees_with_goes_out_study_wide(env: Env) -> None:
    env.spec("a.yaml", head(A) + study("CHEST"))
    env.spec("b.yaml", head(B) + "  Patient:\n    DICOM:\n      PatientID: P1\n")  # nothing of the study level
    assert drift(env)[0] == 0
    env.spec("a.yaml", head(A) + study("HEAD"))
    code, report = drift(env)
    assert code == 2 and outcome(report) == {A: ("update", None), B: ("none", "state")}
    code, out, err = env.cli("apply", "specs", "--auto-approve", "--state", "st.jsonl")
    assert code == 0, out + err
    assert [(s.image_set_id, s.query.get("includeStudyImageSets")) for s in env.sent] == [(A, "true")]
    assert env.version(B) == "2"  # the study-wide update moved B as well
