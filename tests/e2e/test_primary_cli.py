"""Primary image sets and study-wide updates through the CLI, against the emulator over both transports
(in process with ``--local``, and ``emulator serve``'s HTTP server), with every UpdateImageSetMetadata
the emulator receives recorded."""

from __future__ import annotations

import json

from reconciler.plan.rules import PRIMARY_PAGE
from tests.support.applyenv import client
from tests.support.primaryenv import DS, SECRET, STUDY, A, B, D, Env, N, env, head

__all__ = ["env"]  # the fixture

PATIENT = "  Patient:\n    DICOM:\n      PatientName: NEW^NAME\n"
HEAD_DESC = "  Study:\n    DICOM:\n      StudyDescription: HEAD\n"


def test_a_patient_change_on_a_primary_is_refused_in_every_format_and_nothing_is_sent(env: Env) -> None:
    env.spec("a.yaml", head(A) + PATIENT)
    code, out, err = env.cli("plan", "specs")
    assert code == 1, err
    assert "refused on primary: Patient-level metadata elements cannot be updated on a primary image set" in out
    assert PRIMARY_PAGE in out and "primary): error" in out
    assert SECRET not in out and "NEW^NAME" not in out  # values stay redacted

    code, out, _ = env.cli("plan", "specs", "--format", "json")
    assert code == 1
    (isp,) = json.loads(out)["image_sets"]
    assert (isp["action"], isp["isPrimary"], isp["requests"]) == ("error", True, 0)
    (change,) = isp["changes"]
    assert (change["check"], change["rule"]) == ("refused on primary", PRIMARY_PAGE)
    assert "refused on primary" in isp["error"]

    code, out, _ = env.cli("plan", "specs", "--format", "markdown")
    assert code == 1
    assert "refused on primary" in out and PRIMARY_PAGE in out

    code, out, err = env.cli("apply", "specs", "--auto-approve")
    assert code == 1
    assert env.sent == []
    assert env.version(A) == "1"
    assert env.metadata(A)["Patient"]["DICOM"]["PatientName"] == SECRET


def test_the_same_change_on_a_non_primary_applies(env: Env) -> None:
    env.spec("n.yaml", head(N) + PATIENT)
    code, out, err = env.cli("apply", "specs", "--auto-approve")
    assert code == 0, out + err
    assert [s.image_set_id for s in env.sent] == [N]
    assert env.metadata(N)["Patient"]["DICOM"]["PatientName"] == "NEW^NAME"
    code, out, _ = env.cli("plan", "specs", "--detailed-exitcode")
    assert code == 0, out


def test_a_study_level_change_goes_out_as_one_study_wide_request_and_both_converge(env: Env) -> None:
    env.spec("a.yaml", head(A) + HEAD_DESC)
    code, out, err = env.cli("plan", "specs")
    assert code == 0, err
    assert f"includeStudyImageSets also updates the other primary image sets of the study: {B} (version 1)" in out

    code, out, _ = env.cli("plan", "specs", "--format", "json")
    (isp,) = json.loads(out)["image_sets"]
    assert isp["studyWide"] == {"requests": 1, "members": [{"imageSetId": B, "versionId": "1"}]}
    code, out, _ = env.cli("plan", "specs", "--format", "markdown")
    assert f"{B} (version 1)" in out

    code, out, err = env.cli("apply", "specs", "--auto-approve")
    assert code == 0, out + err
    (sent,) = env.sent
    assert (sent.image_set_id, sent.query.get("includeStudyImageSets")) == (A, "true")
    for image_set_id in (A, B):
        assert env.metadata(image_set_id)["Study"]["DICOM"]["StudyDescription"] == "HEAD"
        assert env.version(image_set_id) == "2"
    for untouched in (N, D):  # a non-primary of the study, a primary of another study
        assert env.version(untouched) == "1"
    assert env.cli("plan", "specs", "--detailed-exitcode")[0] == 0


def test_a_selector_over_the_study_sends_one_study_wide_request_and_one_for_the_non_primary(env: Env) -> None:
    spec = (f"apiVersion: reconciler/v1\nkind: ImageSetMetadata\ntarget:\n  datastoreId: {DS}\n  select:\n"
            f"    DICOMStudyInstanceUID: \"{STUDY}\"\ndesired:\n" + HEAD_DESC)
    env.spec("study.yaml", spec)
    code, out, _ = env.cli("plan", "specs", "--format", "json")
    assert code == 0
    plans = {p["imageSetId"]: p for p in json.loads(out)["image_sets"]}
    assert set(plans) == {A, B, N}
    (owner,) = (i for i in (A, B) if "studyWide" in plans[i])  # the first of the plan: search order
    (other,) = {A, B} - {owner}
    assert plans[owner]["studyWide"]["members"] == [{"imageSetId": other, "versionId": "1"}]
    assert (plans[other]["studyOwner"], plans[other]["requests"], plans[other]["action"]) == (owner, 0, "update")
    assert "studyWide" not in plans[N] and plans[N]["requests"] == 1

    code, out, err = env.cli("apply", "specs", "--auto-approve")
    assert code == 0, out + err
    assert sorted((s.image_set_id, s.query.get("includeStudyImageSets")) for s in env.sent) == sorted([
        (owner, "true"), (N, None)])
    assert "3 converged" in out
    assert all(env.metadata(i)["Study"]["DICOM"]["StudyDescription"] == "HEAD" for i in (A, B, N))
    assert env.cli("plan", "specs", "--detailed-exitcode")[0] == 0


def test_a_sibling_changed_between_plan_and_apply_exits_3_with_nothing_written(env: Env) -> None:
    env.spec("a.yaml", head(A) + HEAD_DESC)
    code, _, err = env.cli("plan", "specs", "--out", "p.plan")
    assert code == 0, err
    outside = client(env.store)  # another writer changes the sibling B
    outside.update_image_set_metadata(DS, B, "1", updatable=b'{"SchemaVersion":1.1,"Study":{"DICOM":'
                                                          b'{"AccessionNumber":"A2"}}}')
    env.sent.clear()
    code, out, err = env.cli("apply", "p.plan")
    assert code == 3, out + err
    assert env.sent == []
    assert f"image set {B} (a primary image set of the same study" in out
    assert (env.version(A), env.version(B)) == ("1", "2")
    assert env.metadata(A)["Study"]["DICOM"]["StudyDescription"] == "CHEST"


def test_study_wide_false_updates_that_image_set_alone(env: Env) -> None:
    env.spec("a.yaml", head(A, "studyWide: false\n") + HEAD_DESC)
    code, out, err = env.cli("apply", "specs", "--auto-approve")
    assert code == 0, out + err
    (sent,) = env.sent
    assert (sent.image_set_id, sent.query.get("includeStudyImageSets")) == (A, None)
    assert env.metadata(A)["Study"]["DICOM"]["StudyDescription"] == "HEAD"
    assert (env.version(B), env.metadata(B)["Study"]["DICOM"]["StudyDescription"]) == ("1", "CHEST")


def test_different_study_level_values_for_one_study_are_a_plan_error(env: Env) -> None:
    env.spec("a.yaml", head(A) + HEAD_DESC)
    env.spec("b.yaml", head(B) + "  Study:\n    DICOM:\n      StudyDescription: NECK\n")
    code, out, _ = env.cli("plan", "specs", "--format", "json")
    assert code == 1
    plans = {p["imageSetId"]: p for p in json.loads(out)["image_sets"]}
    assert plans[A]["action"] == plans[B]["action"] == "error"
    assert "Study.DICOM.StudyDescription: the study's primary image sets get their study-level values" in (
        plans[B]["error"])


def test_drift_blame_names_a_study_wide_update_not_an_edit(env: Env) -> None:
    env.spec("a.yaml", head(A) + HEAD_DESC)
    assert env.cli("apply", "specs", "--auto-approve")[0] == 0
    (env.root / "specs" / "a.yaml").unlink()
    env.spec("b.yaml", head(B) + "  Study:\n    DICOM:\n      StudyDescription: CHEST\n")
    code, out, err = env.cli("drift", "specs", "--blame")
    assert code == 2, err
    assert (f"{B} Study.DICOM.StudyDescription: live value from version 2" in out
            and f"a study-wide update (includeStudyImageSets), not an edit of its own: it also changed image set "
                f"{A} (version 2)" in out)
    code, out, _ = env.cli("drift", "specs", "--blame", "--format", "json")
    (change,) = json.loads(out)["image_sets"][0]["changes"]
    assert change["blame"]["studyWide"] == {"running": False, "members": [{"imageSetId": A, "versionId": "2"}]}


def test_an_edit_of_its_own_is_not_called_study_wide(env: Env) -> None:
    env.spec("b.yaml", head(B, "studyWide: false\n") + HEAD_DESC)
    assert env.cli("apply", "specs", "--auto-approve")[0] == 0
    env.spec("b.yaml", head(B) + "  Study:\n    DICOM:\n      StudyDescription: CHEST\n")
    code, out, _ = env.cli("drift", "specs", "--blame")
    assert code == 2
    (line,) = (x for x in out.splitlines() if "live value from" in x)
    assert "live value from version 2" in line and "study-wide" not in line


def test_a_planned_sibling_with_changes_of_its_own_follows_the_study_wide_request(env: Env) -> None:
    """B's study-level change goes out with A's study-wide request; B's own request is then guarded by the
    version that request gave B (2), not the one the plan read (1)."""
    env.spec("a.yaml", head(A) + HEAD_DESC)
    env.spec("b.yaml", head(B) + HEAD_DESC + "    Series:\n      \"1.2.840.99.2\":\n        Instances:\n"
             "          \"1.2.840.99.2.1\":\n            DICOM:\n              InstanceNumber: 5\n")
    code, out, err = env.cli("apply", "specs", "--auto-approve")
    assert code == 0, out + err
    assert [(s.image_set_id, s.query.get("includeStudyImageSets"), s.query.get("latestVersion"))
            for s in env.sent] == [(A, "true", "1"), (B, None, "2")]
    assert (env.version(A), env.version(B)) == ("2", "3")
    b = env.metadata(B)
    assert b["Study"]["DICOM"]["StudyDescription"] == "HEAD"
    assert b["Study"]["Series"]["1.2.840.99.2"]["Instances"]["1.2.840.99.2.1"]["DICOM"]["InstanceNumber"] == "5"
    assert env.cli("plan", "specs", "--detailed-exitcode")[0] == 0


def test_no_study_wide_request_reaches_a_sibling_with_plan_errors(env: Env) -> None:
    """A's Patient-level change is refused, so nothing may be written to A: B's study-wide request, which would
    change A too, is a plan error as well, and nothing is sent."""
    env.spec("a.yaml", head(A) + PATIENT)
    env.spec("b.yaml", head(B) + HEAD_DESC)
    code, out, _ = env.cli("plan", "specs", "--format", "json")
    assert code == 1
    plans = {p["imageSetId"]: p for p in json.loads(out)["image_sets"]}
    assert plans[A]["action"] == plans[B]["action"] == "error"
    assert f"would also change image set {A} of the same study" in plans[B]["error"]
    assert env.cli("apply", "specs", "--auto-approve")[0] == 1
    assert env.sent == []
    env.spec("b.yaml", head(B, "studyWide: false\n") + HEAD_DESC)  # B alone: A is not touched
    assert env.cli("apply", "specs", "--auto-approve")[0] == 1  # A still fails
    assert [(s.image_set_id, s.query.get("includeStudyImageSets")) for s in env.sent] == [(B, None)]
