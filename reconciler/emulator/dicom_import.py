"""Turn DICOM P10 files into image sets, the way a HealthImaging import normalises them.

One image set per StudyInstanceUID; its ID is the md5 hex of ``"DATASTORE|STUDYUID"`` so the same files
always give the same IDs. Attributes go to the Patient, Study or Series level by
``reconciler.dicom.levels.level_of`` (the developer guide's "Metadata normalization" table), everything
else (and the group 0002 file meta) to the instance. Values are encoded as in the service's documents
by ``reconciler.emulator.dicom_json``. PixelData is not stored; each frame becomes an ``ImageFrames``
entry with a deterministic ID, its size and a CRC-32 of the frame as stored (the emulator does not
decode pixels, so Min/MaxPixelValue are left out).
"""

from __future__ import annotations

import hashlib
import logging
import re
import warnings
import zlib
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pydicom
from pydicom.charset import convert_encodings
from pydicom.dataset import Dataset

from reconciler.dicom.levels import level_of
from reconciler.emulator.dicom_json import encode_dataset, is_keyword
from reconciler.emulator.import_store import store_study
from reconciler.emulator.store import Store
from reconciler.errors import ReconcilerError

STORED_TRANSFER_SYNTAX = "1.2.840.10008.1.2.4.202"  # HTJ2K lossless RPCL: what HealthImaging stores
_ID_RE = re.compile(r"^[0-9a-z]{32}$")
_DICOMDIR_CLASS = "1.2.840.10008.1.3.10"
Warn = Callable[[str], None]


class DicomImportError(ReconcilerError):
    """A path given to import-dicom is missing or is not a DICOM P10 file."""


def image_set_id_for(datastore_id: str, study_uid: str) -> str:
    """The deterministic image set ID of one study in one datastore."""
    return hashlib.md5(f"{datastore_id}|{study_uid}".encode()).hexdigest()


def import_dicom(
    store: Store, datastore_id: str, paths: Sequence[str | Path], warn: Warn | None = None, *,
    primary: bool | Callable[[str], bool] = True,
) -> list[dict[str, Any]]:
    """Import the DICOM files in PATHS (files or folders) and return one summary per image set.

    A re-import of unchanged files writes nothing ("unchanged"); new series or instances become a new
    version; instances that conflict with a primary image set become a non-primary image set
    (``import_store``). ``primary=False`` creates new image sets as non-primary; a function of the
    image set ID chooses for each one.
    """
    if not _ID_RE.match(datastore_id):
        raise DicomImportError(f"datastore ID {datastore_id!r} must be 32 characters [0-9a-z]")
    documents = build_documents(datastore_id, read_files(paths, warn or (lambda _msg: None)))
    if not documents:
        raise DicomImportError("no DICOM P10 files with a StudyInstanceUID were found in the given paths")
    store.ensure_datastore(datastore_id)
    return [_store_one(store, datastore_id, image_set_id, doc, primary(image_set_id) if callable(primary) else primary)
            for image_set_id, doc in documents.items()]


def _store_one(store: Store, datastore_id: str, image_set_id: str, doc: dict[str, Any], primary: bool
               ) -> dict[str, Any]:
    stored = store_study(store, datastore_id, image_set_id, doc, primary=primary)
    series = doc["Study"]["Series"]
    return {
        "datastoreId": datastore_id,
        **stored,
        "studyInstanceUID": doc["Study"]["DICOM"].get("StudyInstanceUID"),
        "series": len(series),
        "instances": sum(len(s["Instances"]) for s in series.values()),
    }


# -- reading -----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ParsedFile:
    """One DICOM file, already split into levels; ``frames`` are (width, height, size, crc32)."""

    path: Path
    study_uid: str
    series_uid: str
    sop_uid: str
    levels: dict[str, dict[str, Any]]
    frames: list[tuple[int, int, int, int]]


def read_files(paths: Sequence[str | Path], warn: Warn) -> Iterator[ParsedFile]:
    """Each DICOM P10 file under PATHS, parsed. A named file that is not DICOM is an error; inside a
    folder it is skipped with a warning (folders hold READMEs, dumps and the like)."""
    for given in paths:
        path = Path(given)
        if path.is_dir():
            for file in sorted(p for p in path.rglob("*") if p.is_file()):
                parsed = _parse(file, warn, strict=False)
                if parsed is not None:
                    yield parsed
        elif path.is_file():
            parsed = _parse(path, warn, strict=True)
            if parsed is not None:
                yield parsed
        else:
            raise DicomImportError(f"{path}: no such file or folder")


def _parse(path: Path, warn: Warn, *, strict: bool) -> ParsedFile | None:
    # pydicom warns about every odd value it meets; the import reports per file instead.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        logging.getLogger("pydicom").setLevel(logging.ERROR)
        try:
            ds = pydicom.dcmread(path)
            return _parse_dataset(path, ds, warn)
        except Exception as exc:  # pydicom raises many types on broken files; one message for all
            if strict:
                raise DicomImportError(
                    f"{path}: not a readable DICOM P10 file ({type(exc).__name__})") from None
            warn(f"skipping {path}: not a readable DICOM P10 file ({type(exc).__name__})")
            return None


def _parse_dataset(path: Path, ds: Dataset, warn: Warn) -> ParsedFile | None:
    if str(ds.file_meta.get("MediaStorageSOPClassUID", "")) == _DICOMDIR_CLASS:
        warn(f"skipping {path}: a DICOMDIR, not an image")
        return None
    missing = [k for k in ("StudyInstanceUID", "SeriesInstanceUID", "SOPInstanceUID") if not ds.get(k)]
    if missing:
        warn(f"skipping {path}: no {', '.join(missing)}")
        return None
    return ParsedFile(path, str(ds.StudyInstanceUID), str(ds.SeriesInstanceUID), str(ds.SOPInstanceUID),
                      split_levels(ds), _frames(ds))


def _frames(ds: Dataset) -> list[tuple[int, int, int, int]]:
    if "PixelData" not in ds:
        return []
    width, height = _int(ds.get("Columns"), 0), _int(ds.get("Rows"), 0)
    return [(width, height, len(f), zlib.crc32(f)) for f in _frame_bytes(ds)]


def _frame_bytes(ds: Dataset) -> list[bytes]:
    data: bytes = ds.PixelData
    count = max(1, _int(ds.get("NumberOfFrames"), 1))
    syntax = ds.file_meta.get("TransferSyntaxUID")
    if syntax is not None and syntax.is_encapsulated:
        from pydicom.encaps import generate_frames

        try:
            return list(generate_frames(data, number_of_frames=count))
        except (ValueError, KeyError, IndexError):
            return [data]  # odd fragment tables: one frame covering everything stored
    size = len(data) // count
    return [data[i * size:(i + 1) * size] for i in range(count)]


def _int(value: Any, default: int) -> int:
    try:
        return int(value) if value not in (None, "") else default
    except (TypeError, ValueError):
        return default


# -- building the documents --------------------------------------------------------------------------


def build_documents(datastore_id: str, files: Iterable[ParsedFile]) -> dict[str, dict[str, Any]]:
    """Image set ID -> metadata document, grouping instances by study and series. The first file (in
    path order) of a study or series gives its Patient/Study or Series attributes."""
    docs: dict[str, dict[str, Any]] = {}
    for f in files:
        image_set_id = image_set_id_for(datastore_id, f.study_uid)
        doc = docs.setdefault(image_set_id, {
            "SchemaVersion": "1.1", "DatastoreID": datastore_id, "ImageSetID": image_set_id,
            "Patient": {"DICOM": f.levels["Patient"]}, "Study": {"DICOM": f.levels["Study"], "Series": {}},
        })
        series = doc["Study"]["Series"].setdefault(f.series_uid, {"DICOM": f.levels["Series"], "Instances": {}})
        if f.sop_uid not in series["Instances"]:
            series["Instances"][f.sop_uid] = _instance(image_set_id, f)
    return docs


def split_levels(ds: Dataset) -> dict[str, dict[str, Any]]:
    """The file's attributes by level; DICOMVRs (private/unknown tags) collected for the instance."""
    out: dict[str, dict[str, Any]] = {"Patient": {}, "Study": {}, "Series": {}, "Instance": {}, "VRs": {}}
    encodings = convert_encodings(ds.get("SpecificCharacterSet") or "ISO_IR 6")
    for source in (ds.file_meta, ds):
        for key, vr, value in encode_dataset(source, encodings):
            level = level_of(key)
            out[level][key] = value
            if not is_keyword(key):
                out["VRs"][key] = vr
    return out


def _instance(image_set_id: str, f: ParsedFile) -> dict[str, Any]:
    frames = [
        {
            "ID": hashlib.md5(f"{image_set_id}|{f.sop_uid}|{n}".encode()).hexdigest(),
            "PixelDataChecksumFromBaseToFullResolution": [{"Width": w, "Height": h, "Checksum": crc}],
            "FrameSizeInBytes": size,
        }
        for n, (w, h, size, crc) in enumerate(f.frames)
    ]
    return {
        "DICOM": f.levels["Instance"],
        "DICOMVRs": f.levels["VRs"],
        "StoredTransferSyntaxUID": STORED_TRANSFER_SYNTAX,
        "ImageFrames": frames,
    }
