"""import-dicom on the DICOM files that ship inside pydicom (local test_files only, never downloads)."""

from __future__ import annotations

import io
import json
import time
from pathlib import Path
from typing import Any

import pydicom.data
import pytest

from reconciler.cli import main
from reconciler.commands._common import Streams
from reconciler.emulator.dicom_import import DicomImportError, image_set_id_for, import_dicom
from reconciler.emulator.store import NewVersion, Store

FILES = Path(pydicom.data.__file__).parent / "test_files"
CT = FILES / "CT_small.dcm"
MR = FILES / "MR_small.dcm"
DS = "0123456789abcdef0123456789abcdef"


@pytest.fixture
def store(tmp_path: Path) -> Store:
    return Store(tmp_path / "store")


def _doc(store: Store, image_set_id: str) -> dict[str, Any]:
    return store.get_document(DS, image_set_id)


def _only_instance(doc: dict[str, Any]) -> dict[str, Any]:
    (series,) = doc["Study"]["Series"].values()
    (instance,) = series["Instances"].values()
    assert isinstance(instance, dict)
    return instance


@pytest.mark.parametrize(("keyword", "where"), [
    ("PatientName", ("Patient",)),
    ("PatientID", ("Patient",)),
    ("StudyDate", ("Study",)),
    ("StudyInstanceUID", ("Study",)),
    ("Modality", ("Series",)),
    ("SeriesInstanceUID", ("Series",)),
    ("SOPClassUID", ("Instance",)),
    ("TransferSyntaxUID", ("Instance",)),  # group 0002 file meta stays at the instance
])
def test_attributes_land_at_their_level(store: Store, keyword: str, where: tuple[str]) -> None:
    (result,) = import_dicom(store, DS, [CT])
    doc = _doc(store, result["imageSetId"])
    (series,) = doc["Study"]["Series"].values()
    at = {
        "Patient": doc["Patient"]["DICOM"],
        "Study": doc["Study"]["DICOM"],
        "Series": series["DICOM"],
        "Instance": _only_instance(doc)["DICOM"],
    }
    assert [level for level, attrs in at.items() if keyword in attrs] == list(where)


@pytest.mark.parametrize(("path", "keyword", "expected"), [
    (CT, "SeriesNumber", "1 "),  # string VRs keep their padding
    (CT, "Rows", 128),  # US is a number
    (CT, "ImageType", ["ORIGINAL", "PRIMARY", "AXIAL"]),  # VM > 1 is a list
    (CT, "FileMetaInformationVersion", "AAE="),  # binary VRs are base64
    (CT, "SOPClassUID", "1.2.840.10008.5.1.4.1.1.2"),
])
def test_values_are_encoded_like_the_service(store: Store, path: Path, keyword: str, expected: Any) -> None:
    (result,) = import_dicom(store, DS, [path])
    doc = _doc(store, result["imageSetId"])
    (series,) = doc["Study"]["Series"].values()
    merged = {**series["DICOM"], **_only_instance(doc)["DICOM"]}
    assert merged[keyword] == expected


def test_private_tags_are_hex_keys_with_their_vr(store: Store) -> None:
    (result,) = import_dicom(store, DS, [CT])
    instance = _only_instance(_doc(store, result["imageSetId"]))
    assert instance["DICOMVRs"]["00091001"] == "LO"
    assert "00091001" in instance["DICOM"]


@pytest.mark.parametrize(("name", "frames"), [
    ("rtdose.dcm", 15),  # native multi-frame: split evenly
    ("rtdose_rle.dcm", 15),  # encapsulated (RLE): one entry per frame of the fragment table
    ("SC_rgb_rle_2frame.dcm", 2),
])
def test_one_image_frame_entry_per_frame(store: Store, name: str, frames: int) -> None:
    (result,) = import_dicom(store, DS, [FILES / name])
    entries = _only_instance(_doc(store, result["imageSetId"]))["ImageFrames"]
    assert len(entries) == frames
    assert len({e["ID"] for e in entries}) == frames


def test_sequences_are_lists_of_objects(store: Store) -> None:
    (result,) = import_dicom(store, DS, [CT])
    other_ids = _doc(store, result["imageSetId"])["Patient"]["DICOM"]["OtherPatientIDsSequence"]
    assert [sorted(item) for item in other_ids] == [["PatientID", "TypeOfPatientID"]] * 2


def test_pixel_data_is_not_stored_but_frames_are_listed(store: Store) -> None:
    (result,) = import_dicom(store, DS, [CT])
    instance = _only_instance(_doc(store, result["imageSetId"]))
    assert "PixelData" not in instance["DICOM"]
    (frame,) = instance["ImageFrames"]
    assert frame["FrameSizeInBytes"] == 128 * 128 * 2
    assert len(frame["ID"]) == 32


def test_one_image_set_per_study_with_deterministic_ids(store: Store) -> None:
    results = import_dicom(store, DS, [CT, MR])
    doc = _doc(store, results[0]["imageSetId"])
    assert len(results) == 2
    assert results[0]["imageSetId"] == image_set_id_for(DS, doc["Study"]["DICOM"]["StudyInstanceUID"])
    assert {r["status"] for r in results} == {"created"}


def test_reimport_gives_the_same_ids_and_writes_nothing(store: Store, tmp_path: Path) -> None:
    first = import_dicom(store, DS, [CT, MR])
    again = import_dicom(store, DS, [CT, MR])
    elsewhere = import_dicom(Store(tmp_path / "other"), DS, [MR, CT])
    assert [r["imageSetId"] for r in again] == [r["imageSetId"] for r in first]
    assert sorted(r["imageSetId"] for r in elsewhere) == sorted(r["imageSetId"] for r in first)
    assert {(r["status"], r["versionId"]) for r in again} == {("unchanged", "1")}


def _with_patient_name(path: Path, tmp_path: Path, name: str, sop_uid: str | None = None) -> Path:
    """A copy of PATH with another PatientName (and SOPInstanceUID): the same instance, changed content."""
    ds = pydicom.dcmread(path)
    ds.PatientName = name
    if sop_uid is not None:
        ds.SOPInstanceUID = sop_uid
        ds.file_meta.MediaStorageSOPInstanceUID = sop_uid
    out = tmp_path / f"{name}-{path.name}"
    ds.save_as(out)
    return out


def test_first_import_creates_primary_image_sets(store: Store) -> None:
    results = import_dicom(store, DS, [CT, MR])
    assert {r["isPrimary"] for r in results} == {True}
    assert all(store.get_version(DS, r["imageSetId"], now=0).is_primary for r in results)


def test_conflicting_reimport_becomes_a_non_primary_image_set(store: Store, tmp_path: Path) -> None:
    (first,) = import_dicom(store, DS, [CT])
    (conflict,) = import_dicom(store, DS, [_with_patient_name(CT, tmp_path, "OTHER^NAME")])
    assert (conflict["status"], conflict["isPrimary"], conflict["versionId"]) == ("created", False, "1")
    assert conflict["imageSetId"] != first["imageSetId"]
    assert conflict["studyInstanceUID"] == first["studyInstanceUID"]
    # the primary is untouched; the conflicting data is kept, durably, in the non-primary one
    assert store.get_version(DS, first["imageSetId"], now=0).latest_version == 1
    assert _doc(store, conflict["imageSetId"])["Patient"]["DICOM"]["PatientName"] == "OTHER^NAME"
    assert store.get_version(DS, conflict["imageSetId"], now=0).is_primary is False
    (again,) = import_dicom(store, DS, [_with_patient_name(CT, tmp_path, "OTHER^NAME")])
    assert (again["imageSetId"], again["status"]) == (conflict["imageSetId"], "unchanged")


def test_new_instances_of_a_study_are_a_new_version_of_its_primary(store: Store, tmp_path: Path) -> None:
    (first,) = import_dicom(store, DS, [CT])
    extra = _with_patient_name(CT, tmp_path, str(pydicom.dcmread(CT).PatientName), sop_uid="1.2.3.4.5.6.7")
    (added,) = import_dicom(store, DS, [extra])
    assert (added["imageSetId"], added["status"], added["versionId"], added["isPrimary"]) == (
        first["imageSetId"], "updated", "2", True)
    (series,) = _doc(store, first["imageSetId"])["Study"]["Series"].values()
    assert len(series["Instances"]) == 2  # the first instance stays, the new one is added


def test_cli_non_primary_flag(tmp_path: Path) -> None:
    code, out, _ = _run(["emulator", "import-dicom", "--local", str(tmp_path), "--datastore-id", DS,
                         "--non-primary", str(CT)])
    assert code == 0
    (result,) = json.loads(out)
    assert result["isPrimary"] is False
    assert Store(tmp_path).get_version(DS, result["imageSetId"], now=0).is_primary is False


def test_folder_skips_non_dicom_files_with_a_warning(store: Store, tmp_path: Path) -> None:
    folder = tmp_path / "in"
    folder.mkdir()
    (folder / "README.txt").write_text("not dicom")
    (folder / "ct.dcm").write_bytes(CT.read_bytes())
    warnings: list[str] = []
    results = import_dicom(store, DS, [folder], warn=warnings.append)
    assert len(results) == 1
    assert len(warnings) == 1
    assert "README.txt" in warnings[0]


@pytest.mark.parametrize(("name", "content", "message"), [
    ("missing.dcm", None, "no such file"),
    ("notes.txt", b"hello", "not a readable DICOM P10 file"),
])
def test_bad_named_path_is_an_error(store: Store, tmp_path: Path, name: str, content: bytes | None,
                                    message: str) -> None:
    path = tmp_path / name
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(DicomImportError, match=message):
        import_dicom(store, DS, [path])


def test_malformed_datastore_id_is_an_error(store: Store) -> None:
    with pytest.raises(DicomImportError, match="datastore ID"):
        import_dicom(store, "NOT-AN-ID", [CT])


def _run(argv: list[str]) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = main(argv, Streams(out=out, err=err, inp=None))
    return code, out.getvalue(), err.getvalue()


def test_cli_prints_the_image_sets_as_json(tmp_path: Path) -> None:
    code, out, _ = _run(["emulator", "import-dicom", "--local", str(tmp_path), "--datastore-id", DS, str(CT)])
    assert code == 0
    (result,) = json.loads(out)
    assert (result["datastoreId"], result["versionId"], result["instances"]) == (DS, "1", 1)


@pytest.mark.parametrize("bad", ["does-not-exist.dcm", "notdicom.txt"])
def test_cli_bad_path_is_one_line_and_exit_1(tmp_path: Path, bad: str) -> None:
    (tmp_path / "notdicom.txt").write_text("x")
    code, out, err = _run(["emulator", "import-dicom", "--local", str(tmp_path / "s"),
                           "--datastore-id", DS, str(tmp_path / bad)])
    assert (code, out) == (1, "")
    assert err.startswith("error: ") and err.count("\n") == 1
    assert "Traceback" not in err


def test_cli_reimport_into_a_locked_image_set_is_one_line_and_exit_1(tmp_path: Path) -> None:
    """The store's own errors (here: LOCKED) are the emulator's, not the client's: the command says them
    in one line instead of letting them escape as a traceback."""
    store = Store(tmp_path / "s")
    (result,) = import_dicom(store, DS, [CT])
    store.commit_update(DS, result["imageSetId"], 1, lambda doc: NewVersion(doc, "UPDATED"), now=time.time(),
                        lock_until=time.time() + 600)
    (tmp_path / "changed.dcm").write_bytes(_changed_ct())
    code, out, err = _run(["emulator", "import-dicom", "--local", str(tmp_path / "s"), "--datastore-id", DS,
                           str(tmp_path / "changed.dcm")])
    assert (code, out) == (1, "")
    assert err.startswith("error: ") and "LOCKED" in err and err.count("\n") == 1


def _changed_ct() -> bytes:
    """CT_small with another SOPInstanceUID: a new instance of the same study, so a new version of it."""
    ds = pydicom.dcmread(CT)
    ds.SOPInstanceUID = ds.SOPInstanceUID + ".9"
    buffer = io.BytesIO()
    ds.save_as(buffer)
    return buffer.getvalue()


@pytest.mark.filterwarnings("ignore::UserWarning")  # pydicom on the odd values these files hold on purpose
@pytest.mark.parametrize("name", [
    "CT_small.dcm", "MR_small_implicit.dcm", "ExplVR_BigEnd.dcm", "priv_SQ.dcm", "nested_priv_SQ.dcm",
    "UN_sequence.dcm", "badVR.dcm", "reportsi_with_empty_number_tags.dcm", "empty_charset_LEI.dcm", "rtplan.dcm",
    *(f"../charset_files/{p.name}" for p in sorted((FILES.parent / "charset_files").glob("*.dcm"))),
])
def test_elements_read_from_their_bytes_encode_as_after_pydicoms_conversion(
    name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """dicom_json takes binary and plain string values from the bytes read (no pydicom conversion) only where
    the answer is the one the converted element gives: every level, key, value and VR alike."""
    from reconciler.emulator import dicom_json
    from reconciler.emulator.dicom_import import split_levels

    quick = split_levels(pydicom.dcmread(FILES / name))
    monkeypatch.setattr(dicom_json, "_from_raw", lambda *_args: None)
    converted = split_levels(pydicom.dcmread(FILES / name))
    assert json.dumps(quick) == json.dumps(converted)
