"""Merges from the ADT feed, over both transports: an A40 moves the prior patient's two image sets (two studies)
to the surviving patient, its spec still finds them after apply (re-plan empty), an A47 changes the identifier,
primary image sets are replaced with `--replace allow` (and the plan explains without it), and an unmerge by
`revert` to the versions the apply journal recorded returns the image sets byte-identical to before."""

from __future__ import annotations

import gzip
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from reconciler.emulator.knobs import EmulatorConfig
from tests.support.adtenv import DS, cli, document, hl7, seed
from tests.support.backends import cli_backend, make_local_client

SURVIVOR, PRIOR_A, PRIOR_B, STRANGER = "5" * 32, "6" * 32, "7" * 32, "8" * 32
A40 = hl7("A40", "MRG001", pid3="P1^^^HOSP^MR", name="DOE^JANE", mrg="Q9^^^HOSP^MR")


def image_sets(*, stranger_in_study_b: bool = False) -> dict[str, dict[str, Any]]:
    sets = {SURVIVOR: document("P1", "1.2.1", 1, issuer="HOSP", name="DOE^JANE"),
            PRIOR_A: document("Q9", "1.2.8", 2, issuer="HOSP"),
            PRIOR_B: document("Q9", "1.2.9", 3)}
    if stranger_in_study_b:
        sets[STRANGER] = document("Z5", "1.2.9", 4)
    return sets


@pytest.fixture(params=["local", "http"])
def kind(request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.chdir(tmp_path)
    return str(request.param)


@pytest.fixture
def backend(kind: str, tmp_path: Path) -> Iterator[list[str]]:
    seed(tmp_path / "store", image_sets())
    with cli_backend(kind, tmp_path / "store", EmulatorConfig()) as args:
        yield args


def read(tmp_path: Path, backend: list[str], text: str, *extra: str) -> tuple[int, str, str]:
    (tmp_path / "in.hl7").write_text(text, encoding="utf-8")
    return cli("adt", "read", str(tmp_path / "in.hl7"), "--specs", str(tmp_path / "specs"), "--datastore-id", DS,
               *extra, backend=backend)


def raw_metadata(store: Path, image_set_id: str) -> bytes:
    """The latest metadata document of IMAGE_SET_ID as GetImageSetMetadata returns it, gunzipped."""
    answer = make_local_client(str(store)).get_image_set_metadata(datastoreId=DS, imageSetId=image_set_id)
    return gzip.decompress(answer["imageSetMetadataBlob"].read())


def patient(store: Path, image_set_id: str) -> dict[str, Any]:
    found: dict[str, Any] = json.loads(raw_metadata(store, image_set_id))["Patient"]["DICOM"]
    return found


def test_a40_moves_two_prior_image_sets_in_two_studies_and_replans_empty(tmp_path: Path,
                                                                        backend: list[str]) -> None:
    code, _, err = read(tmp_path, backend, A40)
    assert code == 0, err
    (spec,) = sorted((tmp_path / "specs").glob("*.yaml"))
    assert spec.name == "adt-A40-MRG001.yaml"
    targets = [d["target"] for d in yaml.safe_load_all(spec.read_text())]
    assert targets == [{"datastoreId": DS, "select": {"DICOMStudyInstanceUID": "1.2.8"}},
                       {"datastoreId": DS, "select": {"DICOMStudyInstanceUID": "1.2.9"}}]
    assert cli("apply", str(tmp_path / "specs"), "--auto-approve", backend=backend)[0] == 0
    store = tmp_path / "store"
    for image_set_id in (PRIOR_A, PRIOR_B):
        assert {k: patient(store, image_set_id)[k] for k in ("PatientID", "PatientName", "IssuerOfPatientID")} == {
            "PatientID": "P1", "PatientName": "DOE^JANE", "IssuerOfPatientID": "HOSP"}
    code, out, err = cli("plan", str(tmp_path / "specs"), "--detailed-exitcode", backend=backend)
    assert code == 0 and "0 to update, 2 unchanged" in out, out + err


def test_a_study_shared_with_another_patient_is_pinned_by_image_set_id(tmp_path: Path, kind: str) -> None:
    seed(tmp_path / "store", image_sets(stranger_in_study_b=True))
    with cli_backend(kind, tmp_path / "store", EmulatorConfig()) as backend:
        assert read(tmp_path, backend, A40)[0] == 0
        (spec,) = sorted((tmp_path / "specs").glob("*.yaml"))
        targets = [d["target"] for d in yaml.safe_load_all(spec.read_text())]
        assert targets[1] == {"datastoreId": DS, "imageSetId": PRIOR_B}
        assert cli("apply", str(tmp_path / "specs"), "--auto-approve", backend=backend)[0] == 0
        assert patient(tmp_path / "store", STRANGER)["PatientID"] == "Z5"
        assert cli("plan", str(tmp_path / "specs"), "--detailed-exitcode", backend=backend)[0] == 0


def test_a47_changes_the_identifier_and_nothing_else(tmp_path: Path, backend: list[str]) -> None:
    text = hl7("A47", "CHG001", pid3="NEW9^^^HOSP^MR", name="", dob="", sex="", mrg="Q9^^^HOSP^MR")
    assert read(tmp_path, backend, text)[0] == 0
    docs = list(yaml.safe_load_all(next((tmp_path / "specs").glob("adt-A47-CHG001.yaml")).read_text()))
    assert all(d["desired"]["Patient"]["DICOM"] == {"PatientID": "NEW9", "IssuerOfPatientID": "HOSP"} for d in docs)
    assert cli("apply", str(tmp_path / "specs"), "--auto-approve", backend=backend)[0] == 0
    after = patient(tmp_path / "store", PRIOR_B)
    assert (after["PatientID"], after["PatientBirthDate"]) == ("NEW9", "19700101")


def test_an_earlier_a08_of_the_prior_patient_is_folded_into_the_merge(tmp_path: Path, backend: list[str]) -> None:
    assert read(tmp_path, backend, hl7("A08", "UPD001", pid3="Q9", name="ROE^RICHARD", dob="", sex=""))[0] == 0
    assert read(tmp_path, backend, A40)[0] == 0
    (spec,) = sorted((tmp_path / "specs").glob("*.yaml"))  # the A08's select by the prior ID would find nothing
    assert spec.name == "adt-A40-MRG001.yaml"
    assert [line.split('"')[1] for line in spec.read_text().splitlines() if line.startswith("# ADT ")] == [
        "UPD001", "MRG001"]
    assert cli("apply", str(tmp_path / "specs"), "--auto-approve", backend=backend)[0] == 0
    assert cli("plan", str(tmp_path / "specs"), "--detailed-exitcode", backend=backend)[0] == 0


def test_unmerge_reverts_to_the_journal_versions_byte_identical(tmp_path: Path, backend: list[str]) -> None:
    store = tmp_path / "store"
    before = {i: raw_metadata(store, i) for i in (PRIOR_A, PRIOR_B)}
    assert read(tmp_path, backend, A40)[0] == 0
    journal = tmp_path / "merge.jsonl"
    assert cli("apply", str(tmp_path / "specs"), "--auto-approve", "--journal", str(journal), backend=backend)[0] == 0
    assert all(raw_metadata(store, i) != before[i] for i in before)
    records = [json.loads(line) for line in journal.read_text().splitlines()]
    guards = {r["imageSetId"]: r["guard"] for r in records if r["event"] == "submitted" and r["request"] == 1}
    assert sorted(guards) == [PRIOR_A, PRIOR_B]
    for image_set_id, version in guards.items():
        code, _, err = cli("revert", "--datastore-id", DS, "--image-set-id", image_set_id, "--to-version", version,
                           "--auto-approve", backend=backend)
        assert code == 0, err
    assert {i: raw_metadata(store, i) for i in before} == before


def test_primary_image_sets_are_replaced_with_replace_allow(tmp_path: Path, kind: str) -> None:
    seed(tmp_path / "store", image_sets(), primary=True)
    with cli_backend(kind, tmp_path / "store", EmulatorConfig()) as backend:
        assert read(tmp_path, backend, A40)[0] == 0
        code, out, err = cli("plan", str(tmp_path / "specs"), backend=backend)
        assert code == 1 or "error" in out, out + err  # without replace: the plan explains
        assert "replace: allow" in out + err
        for spec in (tmp_path / "specs").glob("*.yaml"):
            spec.unlink()
        (tmp_path / "specs" / ".adt-processed").unlink()
        assert read(tmp_path, backend, A40, "--replace", "allow")[0] == 0
        spec = next((tmp_path / "specs").glob("*.yaml"))
        assert all(d["replace"] == "allow" for d in yaml.safe_load_all(spec.read_text()))
        code, out, err = cli("apply", str(tmp_path / "specs"), "--auto-approve", backend=backend)
        assert code == 0, out + err
        code, out, err = cli("plan", str(tmp_path / "specs"), "--detailed-exitcode", backend=backend)
        assert code == 0 and "0 to update, 2 unchanged" in out, out + err
        found = list(make_local_client(str(tmp_path / "store")).search_image_sets(
            datastoreId=DS, searchCriteria={"filters": [{"values": [{"DICOMPatientId": "P1"}], "operator": "EQUAL"}]},
        )["imageSetsMetadataSummaries"])
        assert len(found) == 3 and {s["imageSetId"] for s in found} & {PRIOR_A, PRIOR_B} == set()  # new IDs
