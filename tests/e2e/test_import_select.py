"""`import --target-by study` writes a ``select`` target (DICOMStudyInstanceUID) instead of the image set
ID, so the spec keeps finding its image set after a replacement promotes a copy under a new ID; over both
transports. A study that holds other image sets is refused, before anything is written.
`import --target-by patient` writes one ``select: {DICOMPatientId}`` document per patient, managing the
Patient level that the patient's image sets share."""

from __future__ import annotations

import argparse
import io
import re

import pytest

from reconciler.cli import build_parser, main
from reconciler.commands._common import Streams
from reconciler.emulator.store import Store
from reconciler.spec.loader import load_text
from tests.support.applyenv import client
from tests.support.primaryenv import DS, OTHER, SECRET, STUDY, A, B, D, Env, N, document, env

__all__ = ["env"]  # the fixture


def test_a_study_target_is_written_validates_and_plans_empty(env: Env) -> None:
    code, _, err = env.cli("import", "--datastore-id", DS, "--image-set-id", D, "--target-by", "study",
                           "--out", "specs")
    assert code == 0, err
    text = (env.root / "specs" / f"{D}.yaml").read_text()
    (doc,), problems = load_text(text, "spec")
    assert not problems
    assert doc.value["target"] == {"datastoreId": DS, "select": {"DICOMStudyInstanceUID": OTHER}}
    assert "imageSetId" not in text and "a replacement gives it a new image set ID" in text

    out_s, err_s = io.StringIO(), io.StringIO()
    code = main(["validate", "specs"], Streams(out=out_s, err=err_s, inp=None))
    assert code == 0, out_s.getvalue() + err_s.getvalue()
    code, out, err = env.cli("plan", "specs", "--detailed-exitcode")
    assert code == 0, out + err
    assert "No changes. Live metadata matches the specs." in out
    assert "0 to update, 1 unchanged, 0 with errors" in out


def test_a_study_with_other_image_sets_is_refused_and_nothing_written(env: Env) -> None:
    code, _, err = env.cli("import", "--datastore-id", DS, "--select", "DICOMPatientId=P1", "--target-by", "study",
                           "--out", "specs")
    assert code == 1
    found = re.search(rf"image set (\w+) \(datastore {DS}\): a select by DICOMStudyInstanceUID also finds "
                      r"(\w+), (\w+); nothing written", err)
    assert found is not None, err
    assert sorted(found.groups()) == [A, B, N]  # the study's three image sets: one named, two it would also find
    assert "--target-by image-set-id" in err
    assert list((env.root / "specs").iterdir()) == []  # checked before any file is written
    assert STUDY not in err and SECRET not in err  # IDs and the key, never the UID or a value


def test_the_default_still_targets_the_image_set_id(env: Env) -> None:
    code, out, err = env.cli("import", "--datastore-id", DS, "--image-set-id", D)
    assert code == 0, err
    (doc,), _ = load_text(out, "stdout")
    assert doc.value["target"] == {"datastoreId": DS, "imageSetId": D}


def test_help_explains_the_choice() -> None:
    (subs,) = [a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction)]
    text = " ".join(subs.choices["import"].format_help().split())
    assert "--target-by {image-set-id,study,patient}" in text
    assert "study (target.select.DICOMStudyInstanceUID)" in text and "new image set ID" in text


# -- --target-by patient ----------------------------------------------------------------------------------


def _validate(path: str) -> None:
    out_s, err_s = io.StringIO(), io.StringIO()
    code = main(["validate", path], Streams(out=out_s, err=err_s, inp=None))
    assert code == 0, out_s.getvalue() + err_s.getvalue()


def test_a_patient_select_finds_four_image_sets_and_writes_one_document(env: Env) -> None:
    code, _, err = env.cli("import", "--datastore-id", DS, "--select", "DICOMPatientId=P1", "--target-by", "patient",
                           "--out", "specs")
    assert code == 0, err
    files = sorted(p.name for p in (env.root / "specs").iterdir())
    assert files == [f"patient-{A}.yaml"]  # one per patient, named by an image set ID, never the patient ID
    text = (env.root / "specs" / files[0]).read_text()
    (doc,), problems = load_text(text, "spec")
    assert not problems
    assert doc.value["target"] == {"datastoreId": DS, "select": {"DICOMPatientId": "P1"}}
    assert doc.value["desired"] == {"Patient": {"DICOM": {"PatientName": SECRET, "PatientID": "P1"}}}
    assert all(f"#   {i} version 1" in text for i in (A, B, N, D))  # where it came from
    _validate("specs")
    code, out, err = env.cli("plan", "specs", "--detailed-exitcode")
    assert code == 0, out + err
    assert "0 to update, 4 unchanged, 0 with errors" in out


def test_one_image_set_of_the_patient_brings_in_the_others(env: Env) -> None:
    code, out, err = env.cli("import", "--datastore-id", DS, "--image-set-id", D, "--target-by", "patient")
    assert code == 0, err
    (doc,), _ = load_text(out, "stdout")
    assert doc.value["target"]["select"] == {"DICOMPatientId": "P1"}
    assert "of the 4 image sets of one patient" in out


def test_a_patient_level_value_that_differs_is_left_out_and_named(env: Env) -> None:
    client(env.store).update_image_set_metadata(  # N is non-primary: its Patient level may change
        DS, N, "1", updatable=b'{"SchemaVersion":1.1,"Patient":{"DICOM":{"PatientName":"QQOTHER^ZZNAME"}}}')
    code, _, err = env.cli("import", "--datastore-id", DS, "--image-set-id", A, "--target-by", "patient",
                           "--out", "specs")
    assert code == 0, err
    text = (env.root / "specs" / f"patient-{A}.yaml").read_text()
    assert "# Left out (the patient's image sets hold different values): Patient.DICOM.PatientName" in text
    (doc,), _ = load_text(text, "spec")
    assert doc.value["desired"] == {"Patient": {"DICOM": {"PatientID": "P1"}}}
    assert "QQOTHER" not in err + text and SECRET not in err
    code, out, err = env.cli("plan", "specs", "--detailed-exitcode")
    assert code == 0, out + err


def test_two_patients_get_two_documents(env: Env) -> None:
    other = document(5, "1.2.840.97.0")
    other["Patient"]["DICOM"] = {"PatientName": "QQSECOND^ZZNAME", "PatientID": "P2", "PatientBirthDate": None}
    Store(env.store).put_image_set(DS, "9" * 32, other)
    code, _, err = env.cli("import", "--datastore-id", DS, "--select", f"{'DICOMStudyInstanceUID'}=1.2.840.97.0",
                           "--target-by", "patient", "--out", "specs")
    assert code == 0, err
    code, _, err = env.cli("import", "--datastore-id", DS, "--image-set-id", A, "--target-by", "patient",
                           "--out", "specs")
    assert code == 0, err
    names = sorted(p.name for p in (env.root / "specs").iterdir())
    assert names == [f"patient-{'9' * 32}.yaml", f"patient-{A}.yaml"]
    second = (env.root / "specs" / names[0]).read_text()
    assert 'PatientBirthDate: ""' in second  # an empty value, not null ("must be absent")
    code, out, err = env.cli("plan", "specs", "--detailed-exitcode")
    assert code == 0, out + err
    assert "0 to update, 5 unchanged" in out


@pytest.mark.parametrize("levels", ["study", "patient,study"])
def test_other_levels_are_refused_with_a_patient_target(env: Env, levels: str) -> None:
    code, out, err = env.cli("import", "--datastore-id", DS, "--image-set-id", A, "--target-by", "patient",
                             "--levels", levels, "--out", "specs")
    assert code == 1 and out == ""
    assert "--target-by patient writes the Patient level only" in err and "Traceback" not in err
    assert list((env.root / "specs").iterdir()) == []


def test_an_image_set_without_a_patient_id_is_refused(env: Env) -> None:
    nameless = document(6, "1.2.840.96.0")
    nameless["Patient"]["DICOM"] = {"PatientName": "QQNOID^ZZNAME"}
    Store(env.store).put_image_set(DS, "8" * 32, nameless)
    code, _, err = env.cli("import", "--datastore-id", DS, "--image-set-id", "8" * 32, "--target-by", "patient",
                           "--out", "specs")
    assert code == 1
    assert f"image set {'8' * 32} (datastore {DS}) has no Patient.DICOM.PatientID to select it by" in err
    assert list((env.root / "specs").iterdir()) == [] and "QQNOID" not in err
