"""`import --target-by patient`: the Patient level that a patient's image sets share, for one spec document
that targets them all with ``select: {DICOMPatientId: ...}``.

A select by patient ID reaches every image set of the patient (SearchImageSets,
https://docs.aws.amazon.com/healthimaging/latest/APIReference/API_SearchImageSets.html), so such a document
can manage only what they hold alike: the Patient level, attribute by attribute where every image set holds
the same value (DICOM equality, so padding is no difference). An attribute that differs between them is left
out and named (by path, never value), so that planning the document changes nothing.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from reconciler.api import HealthImagingAPI
from reconciler.dicom.normalize import values_equal
from reconciler.errors import ReconcilerError
from reconciler.padding import unpadded
from reconciler.plan.adopt import Origin, build_spec
from reconciler.plan.fetch import Live, Work, read_live
from reconciler.plan.rules import dictionary_vr

PATIENT_KEY = "DICOMPatientId"  # the SearchImageSets key of Patient.DICOM.PatientID


@dataclass(frozen=True)
class SharedPatient:
    """The Patient node the image sets share (``{"Patient": {"DICOM": ..., "DICOMVRs": ...}}``), and the
    dotted paths of the attributes left out because the image sets differ on them."""

    live: dict[str, Any]
    differs: tuple[str, ...]


def patient_id(live: Mapping[str, Any]) -> str | None:
    """Patient.DICOM.PatientID without its DICOM padding, or None when the image set has none."""
    return unpadded(_dicom(live).get("PatientID"))


def shared_patient(lives: Sequence[Mapping[str, Any]]) -> SharedPatient:
    """The Patient-level attributes every one of LIVES holds with an equal value (the first one's value)."""
    first, rest = _dicom(lives[0]), [_dicom(live) for live in lives[1:]]
    vrs = _vrs(lives[0])
    shared: dict[str, Any] = {}
    differs: list[str] = []
    keys = dict.fromkeys([*first, *(k for other in rest for k in other)])
    for key in keys:
        vr = vrs.get(key) or dictionary_vr(key)
        if key in first and all(key in other and values_equal(other[key], first[key], vr) for other in rest):
            shared[key] = first[key]
        else:
            differs.append(f"Patient.DICOM.{key}")
    node: dict[str, Any] = {"DICOM": shared}
    kept_vrs = {k: v for k, v in vrs.items() if k in shared}
    if kept_vrs:
        node["DICOMVRs"] = kept_vrs
    return SharedPatient({"Patient": node}, tuple(differs))


def patient_specs(
    api: HealthImagingAPI,
    datastore_id: str,
    reads: Sequence[tuple[Work, Live]],
    imported_at: str,
    out_dir: Path | None,
    schema_ref: Callable[[Path | None], str],
) -> list[tuple[Path | None, str]]:
    """One spec per patient of READS (the image sets import was asked for): its file under OUT_DIR
    (``patient-<first image set ID>.yaml``, never the patient ID, which is patient data) and its text, which
    selects the patient by ID and manages the Patient level that every image set of the patient shares (the
    ones SearchImageSets finds by that ID, read here too). Everything is read and checked before anything is
    returned for writing; errors name IDs and the key, never the patient ID."""
    patients: dict[str, list[tuple[Work, Live]]] = {}
    for work, read in reads:
        pid = patient_id(read.document or {})
        if pid is None:
            raise ReconcilerError(f"image set {work.image_set_id} (datastore {datastore_id}) has no "
                                  "Patient.DICOM.PatientID to select it by",
                                  hint="import it with --target-by image-set-id")
        patients.setdefault(pid, []).append((work, read))
    out: list[tuple[Path | None, str]] = []
    for pid, mine in sorted(patients.items(), key=lambda item: min(w.image_set_id for w, _ in item[1])):
        found = {h.image_set_id: h.version for h in api.search_image_sets(datastore_id, PATIENT_KEY, pid)}
        missing = sorted(w.image_set_id for w, _ in mine if w.image_set_id not in found)
        if missing:
            raise ReconcilerError(f"image set {missing[0]} (datastore {datastore_id}): a select by {PATIENT_KEY} "
                                  "does not find it; nothing written", hint="import it with --target-by image-set-id")
        known = {w.image_set_id: r for w, r in mine}
        lives = {i: known.get(i) or read_live(api, Work(datastore_id, i, None, ())) for i in sorted(found)}
        shared = shared_patient([live.document or {} for live in lives.values()])
        first = next(iter(lives))
        target = out_dir / f"patient-{first}.yaml" if out_dir is not None else None
        origin = Origin(datastore_id, first, lives[first].version, imported_at, ("patient",), schema_ref(target),
                        (PATIENT_KEY, pid), tuple((i, live.version) for i, live in lives.items()), shared.differs)
        out.append((target, build_spec(origin, shared.live, {"patient"})))
    return out


def _dicom(live: Mapping[str, Any]) -> Mapping[str, Any]:
    patient = live.get("Patient")
    dicom = patient.get("DICOM") if isinstance(patient, Mapping) else None
    return dicom if isinstance(dicom, Mapping) else {}


def _vrs(live: Mapping[str, Any]) -> Mapping[str, Any]:
    patient = live.get("Patient")
    vrs = patient.get("DICOMVRs") if isinstance(patient, Mapping) else None
    return vrs if isinstance(vrs, Mapping) else {}
