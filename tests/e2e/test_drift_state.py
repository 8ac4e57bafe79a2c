"""`drift --state` end to end on the in-process emulator: a second run reads only what changed, apply
leaves nothing for drift to read, an unusable state means a full run with a warning, deleted and
replaced image sets and selectors that lose or gain image sets are reported, the skew margin matters,
and --no-archive-reads keeps archived image sets in the archive. Reads are the run's own JSON cost and
the emulator's storage tiers."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest

from reconciler.emulator.store import NewVersion, Store
from tests.support.planenv import run

DS = "12345678901234567890123456789012"
A, B, C, D = "a" * 32, "b" * 32, "c" * 32, "d" * 32
DAY = 86400.0
KEY = "a drift state secret for the end-to-end tests"


def document(n: int, patient: str = "P1") -> dict[str, Any]:
    return {"Patient": {"DICOM": {"PatientName": f"QQSECRET^{n}", "PatientID": patient}},
            "Study": {"DICOM": {"StudyDescription": "CHEST ", "StudyInstanceUID": f"1.2.{n}"},
                      "Series": {f"1.2.{n}.1": {"DICOM": {"Modality": "CT"}, "Instances": {}}}}}


def by_id(image_set_id: str, description: str = "CHEST") -> str:
    return f"""apiVersion: reconciler/v1
kind: ImageSetMetadata
target:
  datastoreId: {DS}
  imageSetId: {image_set_id}
desired:
  Study:
    DICOM:
      StudyDescription: {description}
"""


def by_patient(patient: str) -> str:
    return f"""apiVersion: reconciler/v1
kind: ImageSetMetadata
target:
  datastoreId: {DS}
  select:
    DICOMPatientId: {patient}
desired:
  Study:
    DICOM:
      StudyDescription: CHEST
"""


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Three image sets imported 40 days ago (in the archive tier), one spec each, a state key."""
    store = Store(tmp_path / "store")
    store.ensure_datastore(DS, "state")
    for n, image_set_id in enumerate((A, B, C)):
        store.put_image_set(DS, image_set_id, document(n), is_primary=False, now=time.time() - 40 * DAY)
    (tmp_path / "specs").mkdir()
    for image_set_id in (A, B, C):
        (tmp_path / "specs" / f"{image_set_id[0]}.yaml").write_text(by_id(image_set_id))
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("RECONCILER_LOCAL", str(tmp_path / "store"))
    monkeypatch.setenv("RECONCILER_STATE_KEY", KEY)
    return tmp_path


def drift(*extra: str) -> tuple[int, dict[str, Any], str]:
    code, out, err = run("drift", "specs", "--format", "json", *extra)
    assert "Traceback" not in err
    return code, json.loads(out) if out else {}, err


def store(env: Path) -> Store:
    return Store(env / "store")


def tier(env: Path, image_set_id: str) -> str:
    row = store(env).get_version(DS, image_set_id, now=time.time())
    return row.storage_tier(time.time(), 30 * DAY)


def change_outside(env: Path, image_set_id: str, description: str = "HEAD", now: float | None = None) -> None:
    """Another writer changes the image set, straight in the service."""
    def build(doc: dict[str, Any]) -> NewVersion:
        doc["Study"]["DICOM"]["StudyDescription"] = description
        return NewVersion(doc, "UPDATED")

    current = store(env).get_version(DS, image_set_id, now=time.time()).latest_version
    store(env).commit_update(DS, image_set_id, current, build, now=now or time.time(), lock_until=0.0)


def statuses(report: dict[str, Any]) -> dict[str, str]:
    return {i["imageSetId"]: i["action"] + ("/" + i["unread"]["reason"] if "unread" in i else "")
            for i in report["image_sets"]}


def test_a_second_run_reads_nothing_that_did_not_change(env: Path) -> None:
    code, first, err = drift("--state", "st.jsonl")
    assert code == 0 and "no drift state at st.jsonl yet" in err
    assert first["cost"]["metadata_reads"] == 3 and first["cost"]["tier_ups"] == 3
    assert first["state"]["status"] == "missing"
    code, second, _ = drift("--state", "st.jsonl")
    assert code == 0
    assert second["cost"] == {"metadata_reads": 0, "tier_ups": 0, "writes": 0, "image_set_reads": 0,
                              "search_pages": 1}
    assert second["summary"]["unchanged"] == 3 and second["summary"]["unchanged_from_state"] == 3
    assert set(statuses(second).values()) == {"none/state"}
    assert all(i["unread"]["version"] == "1" and i["unread"]["verifiedAt"] for i in second["image_sets"])


def test_only_what_changed_is_read_and_the_report_equals_a_refresh(env: Path, monkeypatch: pytest.MonkeyPatch
                                                                    ) -> None:
    monkeypatch.setenv("RECONCILER_REDACTION_KEY", "compare the redacted values across runs")
    drift("--state", "st.jsonl")
    change_outside(env, B)  # a version moved
    (env / "specs" / "c.yaml").write_text(by_id(C, "HEAD CT"))  # a desired subtree changed
    code, incremental, _ = drift("--state", "st.jsonl")
    assert code == 2
    # B's version and tier come from the search of what changed; C's tier needs a GetImageSet (no tier change)
    assert incremental["cost"]["metadata_reads"] == 2 and incremental["cost"]["image_set_reads"] == 1
    assert statuses(incremental) == {A: "none/state", B: "update", C: "update"}
    code, refreshed, err = drift("--state", "st.jsonl", "--refresh")
    assert code == 2 and "--refresh: every image set is read" in err
    assert refreshed["cost"]["metadata_reads"] == 3
    changes = {i["imageSetId"]: i["changes"] for i in incremental["image_sets"] if i["action"] != "none"}
    assert changes == {i["imageSetId"]: i["changes"] for i in refreshed["image_sets"] if i["action"] != "none"}


def test_text_and_markdown_count_the_unread_apart(env: Path) -> None:
    drift("--state", "st.jsonl")
    code, text, _ = run("drift", "specs", "--state", "st.jsonl")
    assert code == 0 and "3 image sets unchanged since the version the drift state verified in sync" in text
    assert "Plan: 0 to update, 3 unchanged (3 from the drift state)" in text
    assert "Cost: 0 metadata reads (0 moved from the archive tier back to Frequent Access)" in text
    code, markdown, _ = run("drift", "specs", "--state", "st.jsonl", "--format", "markdown")
    assert "**3 unchanged since the drift state verified them**" in markdown and "Cost: 0 metadata reads" in markdown


def test_apply_updates_the_state_so_drift_reads_nothing_it_verified(env: Path) -> None:
    (env / "specs" / "a.yaml").write_text(by_id(A, "HEAD CT"))
    code, out, err = run("apply", "specs", "--auto-approve", "--format", "json", "--state", "st.jsonl",
                         "--rate", "UpdateImageSetMetadata=100")
    assert code == 0, err
    report = json.loads(out)
    assert report["cost"]["writes"] == 1 and report["cost"]["metadata_reads"] >= 3
    assert "Drift state written to st.jsonl: 3 image sets verified in sync" in err
    code, after, _ = drift("--state", "st.jsonl")
    assert code == 0 and after["cost"]["metadata_reads"] == 0
    assert statuses(after) == {A: "none/state", B: "none/state", C: "none/state"}


def test_image_sets_left_out_by_target_keep_their_entries(env: Path) -> None:
    drift("--state", "st.jsonl")
    change_outside(env, B)
    code, report, _ = drift("--state", "st.jsonl", "--target", A)
    assert code == 0 and statuses(report) == {A: "none/state"}
    code, report, _ = drift("--state", "st.jsonl")  # B's change is still found: its entry kept its old check
    assert code == 2 and statuses(report) == {A: "none/state", B: "update", C: "none/state"}
    assert report["cost"]["metadata_reads"] == 1


def test_plan_keeps_a_state_too(env: Path) -> None:
    assert run("plan", "specs", "--state", "st.jsonl")[0] == 0
    code, out, _ = run("plan", "specs", "--state", "st.jsonl", "--format", "json")
    assert code == 0 and json.loads(out)["cost"]["metadata_reads"] == 0


def edited(path: Path) -> None:
    lines = path.read_text().splitlines()
    path.write_text("\n".join(line.replace('"1",', '"9",') for line in lines) + "\n")


@pytest.mark.parametrize(("spoil", "problem"), [
    (lambda p: p.write_text("{not json"), "is not a drift state"),
    (edited, "was modified after it was written"),
    (lambda p: p.write_text("\n".join(p.read_text().splitlines()[:-1])), "is truncated"),
])
def test_an_unusable_state_means_a_full_run_with_a_warning(env: Path, spoil: Any, problem: str) -> None:
    drift("--state", "st.jsonl")
    spoil(env / "st.jsonl")
    code, report, err = drift("--state", "st.jsonl")
    assert code == 0 and f"warning: the drift state cannot be used: st.jsonl {problem}" in err
    assert report["cost"]["metadata_reads"] == 3 and report["state"]["status"] == "unusable"
    assert drift("--state", "st.jsonl")[1]["cost"]["metadata_reads"] == 0  # a fresh state was written


def test_a_state_written_under_another_key_means_a_full_run(env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    drift("--state", "st.jsonl")
    monkeypatch.setenv("RECONCILER_STATE_KEY", "another drift state secret for the e2e tests")
    code, report, err = drift("--state", "st.jsonl")
    assert code == 0 and "written with another state key" in err and report["cost"]["metadata_reads"] == 3


def test_a_state_of_another_backend_is_refused_unless_refreshed(env: Path, tmp_path: Path) -> None:
    drift("--state", "st.jsonl")
    other = Store(tmp_path / "other")
    other.ensure_datastore(DS, "other")
    for n, image_set_id in enumerate((A, B, C)):
        other.put_image_set(DS, image_set_id, document(n), is_primary=False)
    code, out, err = run("drift", "specs", "--state", "st.jsonl", "--local", str(tmp_path / "other"))
    assert code == 1 and out == ""
    assert f"was written for the local emulator store {env / 'store'}, but this run is against" in err
    code, _, err = run("drift", "specs", "--state", "st.jsonl", "--local", str(tmp_path / "other"), "--refresh")
    assert code == 0 and "it is replaced" in err


def test_a_state_in_a_folder_that_does_not_exist_is_refused_before_anything_is_read(env: Path) -> None:
    code, out, err = run("drift", "specs", "--state", "nowhere/st.jsonl", "--format", "json")
    assert code == 1 and out == "" and "--state nowhere/st.jsonl: the folder nowhere does not exist" in err


@pytest.mark.parametrize(("key", "message"), [("", "needs a secret key in RECONCILER_STATE_KEY"),
                                              ("short", "shorter than 32 characters")])
def test_a_state_needs_a_long_enough_secret(env: Path, monkeypatch: pytest.MonkeyPatch, key: str,
                                            message: str) -> None:
    monkeypatch.setenv("RECONCILER_STATE_KEY", key)
    monkeypatch.delenv("RECONCILER_REDACTION_KEY", raising=False)
    code, out, err = run("drift", "specs", "--state", "st.jsonl")
    assert code == 1 and message in err and out == "" and not (env / "st.jsonl").exists()


def test_a_replaced_image_set_is_found_and_reported(env: Path) -> None:
    drift("--state", "st.jsonl")
    # copy and promote: a new primary image set of A's study under a new ID, and A deleted
    store(env).put_image_set(DS, D, document(0))
    store(env).delete_image_set(DS, A, now=time.time())
    code, report, _ = drift("--state", "st.jsonl")
    assert code == 1
    a = next(i for i in report["image_sets"] if i["imageSetId"] == A)
    assert a["action"] == "error" and "DELETED" in a["error"]
    assert report["cost"]["image_set_reads"] == 1 and report["cost"]["metadata_reads"] == 0


def test_a_selector_that_loses_or_gains_image_sets_is_drift(env: Path) -> None:
    for name in ("a", "b", "c"):
        (env / "specs" / f"{name}.yaml").unlink()
    (env / "specs" / "p.yaml").write_text(by_patient("P1"))
    assert drift("--state", "st.jsonl")[0] == 0
    store(env).delete_image_set(DS, B, now=time.time())
    store(env).put_image_set(DS, D, document(3))
    code, report, _ = drift("--state", "st.jsonl")
    assert code == 2
    (moved,) = report["membership"]
    assert moved["joined"] == [D] and moved["left"] == [{"imageSetId": B, "fate": "deleted"}]
    assert moved["selectKey"] == "DICOMPatientId" and "P1" not in json.dumps(report["membership"])
    assert report["cost"]["metadata_reads"] == 1  # only the new image set
    code, text, _ = run("drift", "specs", "--state", "st.jsonl")
    assert code == 0 and "In sync: no drift." in text  # the new membership is now the recorded one


def checked_at(env: Path) -> float:
    row = next(json.loads(line) for line in (env / "st.jsonl").read_text().splitlines()[1:] if line.startswith('["d"'))
    return float(row[2])


@pytest.mark.parametrize(("margin", "found"), [(None, True), ("0", False)])
def test_the_skew_margin_finds_an_update_stamped_before_the_last_run(env: Path, margin: str | None,
                                                                     found: bool) -> None:
    drift("--state", "st.jsonl")
    # the service's clock runs a minute behind ours: its update is stamped before our last check
    change_outside(env, B, now=checked_at(env) - 60)
    extra = ("--skew-margin", margin) if margin is not None else ()
    code, report, _ = drift("--state", "st.jsonl", *extra)
    assert (code, statuses(report)[B]) == ((2, "update") if found else (0, "none/state"))


def test_no_archive_reads_keeps_archived_image_sets_in_the_archive(env: Path) -> None:
    store(env).put_image_set(DS, D, document(3), is_primary=False)  # new: frequent access
    (env / "specs" / "d.yaml").write_text(by_id(D))
    code, report, _ = drift("--no-archive-reads")
    assert code == 0
    assert statuses(report) == {A: "none/archived", B: "none/archived", C: "none/archived", D: "none"}
    assert report["summary"]["skipped_archived"] == 3 and report["summary"]["unchanged"] == 1
    assert report["cost"]["metadata_reads"] == 1 and report["cost"]["tier_ups"] == 0
    assert {tier(env, i) for i in (A, B, C)} == {"ARCHIVE_INSTANT_ACCESS"}
    code, text, _ = run("drift", "specs", "--no-archive-reads")
    assert "3 image sets in the archive tier not read (--no-archive-reads)" in text and f"  {A} " in text


def test_no_archive_reads_with_a_state_reads_an_archived_image_set_only_when_its_version_moved(env: Path) -> None:
    drift("--state", "st.jsonl")  # reads all three: they leave the archive
    with store(env)._tx(write=True) as conn:  # a month later: back in the archive tier
        conn.execute("UPDATE image_sets SET last_accessed_at = ?", (time.time() - 40 * DAY,))
    (env / "specs" / "a.yaml").write_text(by_id(A, "HEAD CT"))  # the spec changed, the version did not
    code, report, _ = drift("--state", "st.jsonl", "--no-archive-reads")
    assert code == 0 and statuses(report)[A] == "none/archived" and tier(env, A) == "ARCHIVE_INSTANT_ACCESS"
    assert report["cost"]["metadata_reads"] == 0
    change_outside(env, B)  # a write: B is frequent again, and its version moved
    code, report, _ = drift("--state", "st.jsonl", "--no-archive-reads")
    assert code == 2 and statuses(report)[B] == "update" and report["cost"]["tier_ups"] == 0
    code, report, _ = drift("--state", "st.jsonl")  # without the flag the changed spec is read
    assert code == 2 and statuses(report)[A] == "update" and report["cost"]["tier_ups"] == 1


def test_show_reports_a_saved_incremental_plan_as_the_run_did(env: Path) -> None:
    drift("--state", "st.jsonl")
    change_outside(env, B)
    code, planned, err = run("plan", "specs", "--state", "st.jsonl", "--format", "json", "--out", "p.plan")
    assert code == 0, err
    report = json.loads(planned)
    assert report["cost"]["metadata_reads"] == 1 and report["summary"]["unchanged_from_state"] == 2
    code, shown, _ = run("show", "p.plan", "--format", "json")
    assert code == 0 and json.loads(shown) == report  # cost, unread image sets and state as the run saw them


def test_plan_and_apply_print_their_cost_with_the_tier_ups(env: Path) -> None:
    """Three archived image sets: a plan reads each one's tier (GetImageSet) before its metadata, and counts
    the three it moved back to Frequent Access; apply prints its own reads and its one write."""
    code, text, _ = run("plan", "specs")
    assert code == 0
    assert ("Cost: 3 metadata reads (3 moved from the archive tier back to Frequent Access), 3 GetImageSet, "
            "0 search pages; 0 writes.") in text
    assert {tier(env, i) for i in (A, B, C)} == {"FREQUENT_ACCESS"}
    (env / "specs" / "a.yaml").write_text(by_id(A, "HEAD CT"))
    code, text, err = run("apply", "specs", "--auto-approve", "--rate", "UpdateImageSetMetadata=100")
    assert code == 0, err
    (line,) = (x for x in text.splitlines() if x.startswith("Cost: "))
    assert "(0 moved from the archive tier" in line and line.endswith("; 1 write.")


def test_apply_of_a_saved_plan_prints_its_own_cost_line_not_the_plans_as_well(env: Path) -> None:
    (env / "specs" / "a.yaml").write_text(by_id(A, "HEAD CT"))
    code, planned, err = run("plan", "specs", "--out", "p.plan")
    assert code == 0, err
    (plan_cost,) = (x for x in planned.splitlines() if x.startswith("Cost: "))
    assert plan_cost.endswith("; 0 writes.")
    code, text, err = run("apply", "p.plan", "--rate", "UpdateImageSetMetadata=100")
    assert code == 0, err
    (line,) = (x for x in text.splitlines() if x.startswith("Cost: "))  # one line: the apply's
    assert line.endswith("; 1 write.") and text.index(line) > text.index("Apply complete:")
    code, shown, _ = run("show", "p.plan")
    assert code == 0 and plan_cost in shown  # the plan keeps the cost of the run that made it


def test_a_deleted_image_set_named_by_id_is_reported_by_refresh_and_then_by_every_run(env: Path) -> None:
    """A plain deletion (no new image set of its study) does not show in the search of what changed: the
    incremental run still says A is unchanged since the state verified it (as the README says), a --refresh
    run reports it, and as the fresh state no longer vouches for A, so does every run after."""
    drift("--state", "st.jsonl")
    store(env).delete_image_set(DS, A, now=time.time())
    assert statuses(drift("--state", "st.jsonl")[1])[A] == "none/state"
    code, report, _ = drift("--state", "st.jsonl", "--refresh")
    a = next(i for i in report["image_sets"] if i["imageSetId"] == A)
    assert code == 1 and a["action"] == "error" and "DELETED" in a["error"]
    code, report, _ = drift("--state", "st.jsonl")
    assert code == 1 and statuses(report) == {A: "error", B: "none/state", C: "none/state"}
