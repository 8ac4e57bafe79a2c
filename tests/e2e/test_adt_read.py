"""`reconciler adt read` end to end, over both transports (in process and `emulator serve`): A08 specs select
the patient, are written 0600 under names that show event and control ID, plan and apply, and re-plan to
nothing; no patient value is printed unless --show-phi; a malformed message writes nothing; a control ID
is written once; another patient's file is never overwritten; another issuer's image sets are left alone."""

from __future__ import annotations

import stat
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from reconciler.emulator.knobs import EmulatorConfig
from tests.support.adtenv import DS, SECRET_NAME, cli, document, hl7, seed
from tests.support.backends import cli_backend

P1, P2, OTHER = "1" * 32, "2" * 32, "3" * 32


@pytest.fixture(params=["local", "http"])
def backend(request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    monkeypatch.chdir(tmp_path)  # apply's journal goes to the working folder
    store = seed(tmp_path / "store", {P1: document("P1", "1.2.1", 1, issuer="HOSP"),
                                      P2: document("P1", "1.2.2", 2),
                                      OTHER: document("P1", "1.2.3", 3, issuer="ELSEWHERE")})
    with cli_backend(request.param, store, EmulatorConfig()) as args:
        yield args


def read(tmp_path: Path, backend: list[str], text: str, *extra: str) -> tuple[int, str, str]:
    source = tmp_path / f"in{len(list(tmp_path.glob('in*.hl7')))}.hl7"
    source.write_text(text, encoding="utf-8")
    return cli("adt", "read", str(source), "--specs", str(tmp_path / "specs"), "--datastore-id", DS, *extra,
               backend=backend)


def spec_files(tmp_path: Path) -> list[Path]:
    return sorted((tmp_path / "specs").glob("*.yaml"))


def test_a08_without_issuer_selects_the_patient_and_plans_then_converges(tmp_path: Path, backend: list[str]) -> None:
    code, out, err = read(tmp_path, backend, hl7("A08", "MSG1", pid3="P1", name="SMITH^JOHN^Q^JR^DR"))
    assert code == 0, err
    (spec,) = spec_files(tmp_path)
    assert spec.name == "adt-A08-MSG1.yaml" and stat.S_IMODE(spec.stat().st_mode) == 0o600
    doc = yaml.safe_load(spec.read_text())
    assert doc["target"] == {"datastoreId": DS, "select": {"DICOMPatientId": "P1"}}
    assert doc["desired"]["Patient"]["DICOM"]["PatientName"] == "SMITH^JOHN^Q^DR^JR"
    assert '# ADT A08 control ID "MSG1" at "20240301101500"' in spec.read_text()
    assert cli("validate", str(spec))[0] == 0
    assert cli("apply", str(tmp_path / "specs"), "--auto-approve", backend=backend)[0] == 0
    code, out, err = cli("plan", str(tmp_path / "specs"), "--detailed-exitcode", backend=backend)
    assert code == 0 and "0 to update, 3 unchanged" in out, out + err


def test_an_issuer_in_the_message_leaves_another_issuers_image_sets_alone(tmp_path: Path,
                                                                           backend: list[str]) -> None:
    code, _, err = read(tmp_path, backend, hl7("A08", "MSG1", pid3="P1^^^HOSP^MR"))
    assert code == 0, err
    assert "1 image set with this ID belongs to another issuer" in err
    docs = list(yaml.safe_load_all(spec_files(tmp_path)[0].read_text()))
    assert sorted(d["target"]["imageSetId"] for d in docs) == [P1, P2]  # held HOSP, or no issuer at all
    assert cli("apply", str(tmp_path / "specs"), "--auto-approve", backend=backend)[0] == 0
    code, out, _ = cli("plan", str(tmp_path / "specs"), "--detailed-exitcode", backend=backend)
    assert code == 0 and "0 to update, 2 unchanged" in out


def test_several_messages_in_one_file_fold_into_the_patients_file(tmp_path: Path, backend: list[str]) -> None:
    text = (hl7("A08", "MSG1", pid3="P1", name="DOE^JANE", sex="F") + hl7("A01", "MSG2", pid3="P1")
            + hl7("A08", "MSG3", pid3="P1", name="DOE^JOAN", dob="", sex="U"))
    code, _, err = read(tmp_path, backend, text.replace("\r", "\r\n"))
    assert code == 0, err
    assert "A01 MSG2: skipped (not handled" in err
    (spec,) = spec_files(tmp_path)
    assert spec.name == "adt-A08-MSG3.yaml"  # the latest message names the file
    assert yaml.safe_load(spec.read_text())["desired"]["Patient"]["DICOM"] == {
        "PatientName": "DOE^JOAN", "PatientBirthDate": "19800101", "PatientSex": "F"}
    sources = [line for line in spec.read_text().splitlines() if line.startswith("# ADT ")]
    assert [s.split('"')[1] for s in sources] == ["MSG1", "MSG3"]


def test_no_patient_value_is_printed_unless_show_phi(tmp_path: Path, backend: list[str]) -> None:
    text = hl7("A08", "MSG1", pid3="P1", name=SECRET_NAME, dob="19610203")
    code, out, err = read(tmp_path, backend, text)
    assert code == 0 and out == ""
    for secret in ("QQSECRET", "19610203", "P1^", "DICOMPatientId"):
        assert secret not in err
    code, _, err = read(tmp_path, backend, hl7("A08", "MSG9", pid3="P1", name=SECRET_NAME), "--show-phi")
    assert code == 0 and f"PatientName: {SECRET_NAME}" in err


def test_a_malformed_message_refuses_the_run_and_writes_nothing(tmp_path: Path, backend: list[str]) -> None:
    text = hl7("A08", "MSG1", pid3="P1") + hl7("A08", "MSG2", pid3="P1", dob="1980XX01", name=SECRET_NAME)
    code, out, err = read(tmp_path, backend, text)
    assert code == 1 and "segment 6 (PID-7) of message MSG2 (ADT^A08)" in err
    assert "in0.hl7" in err and "nothing was written" in err
    assert "QQSECRET" not in out + err and "Traceback" not in err
    assert not (tmp_path / "specs").exists()


def test_the_same_control_id_is_written_once(tmp_path: Path, backend: list[str]) -> None:
    assert read(tmp_path, backend, hl7("A08", "MSG1", pid3="P1", name="DOE^JANE"))[0] == 0
    code, _, err = read(tmp_path, backend, hl7("A08", "MSG1", pid3="P1", name="DOE^OTHER"))
    assert code == 0 and "MSG1: already processed" in err
    (spec,) = spec_files(tmp_path)
    assert "DOE^OTHER" not in spec.read_text()


def test_another_patients_file_is_never_overwritten(tmp_path: Path, backend: list[str]) -> None:
    assert read(tmp_path, backend, hl7("A08", "MSG1", pid3="P1", name="DOE^JANE"))[0] == 0
    (tmp_path / "specs" / ".adt-processed").unlink()  # a sender reusing a control ID for another patient
    before = spec_files(tmp_path)[0].read_bytes()
    seed_other = hl7("A08", "MSG1", pid3="P1^^^ELSEWHERE^MR", name="ROE^RICHARD")
    code, _, err = read(tmp_path, backend, seed_other)
    assert code == 1 and "already exists for another patient" in err and "ROE" not in err
    assert spec_files(tmp_path)[0].read_bytes() == before


def test_a_patient_without_image_sets_writes_nothing(tmp_path: Path, backend: list[str]) -> None:
    code, _, err = read(tmp_path, backend, hl7("A31", "MSG1", pid3="NOBODY"))
    assert code == 0 and "A31 MSG1: nothing written; no image set of the patient" in err
    assert spec_files(tmp_path) == []
