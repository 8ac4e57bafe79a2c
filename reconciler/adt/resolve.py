"""Which image sets a correction reaches, and how its spec finds them again after apply.

- A08/A31: the image sets whose PatientID is the patient's (one SearchImageSets). When the message names an
  assigning authority (PID-3 CX-4), an image set holding another IssuerOfPatientID is another patient's: its
  metadata is read to tell, and only then. All of them this patient's: ``select: {DICOMPatientId}``, which
  also finds image sets stored later. Otherwise each of this patient's is pinned by ID.
- A40/A47: the prior patient's image sets, found the same way, take the surviving ID. A select by the prior
  ID would find nothing after apply, so each study is selected by its StudyInstanceUID when every image set
  of that study is the prior patient's (that select keeps finding them after apply, and after a replacement
  gives a primary image set a new ID); otherwise its image sets are pinned by ID.
SearchImageSets: https://docs.aws.amazon.com/healthimaging/latest/APIReference/API_SearchImageSets.html

A run that asks about many patients (``adt read`` of a backlog) lists the datastore once instead of
searching once per patient, when the listing takes fewer pages than the searches would take requests.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass
from typing import Any

from reconciler.adt.mapping import Correction, Identifier
from reconciler.api import STUDY_KEY, HealthImagingAPI, SearchHit, study_image_sets
from reconciler.padding import unpadded

PATIENT_KEY = "DICOMPatientId"
PAGE = 50  # image sets per SearchImageSets page (the model's maximum maxResults)


class Directory:
    """Finds a patient's image sets by PatientID: one SearchImageSets each, or, when told the IDs a run will
    ask about (EXPECTED), from one listing of the datastore if that takes no more pages than there are IDs
    (given up, and searched for each, as soon as it would take more)."""

    def __init__(self, api: HealthImagingAPI, datastore_id: str, expected: Collection[str] = ()) -> None:
        self.api = api
        self.datastore_id = datastore_id
        self._index: dict[str, list[SearchHit]] | None = None
        if len(expected) > 1:
            self._index = self._listing(len(expected) * PAGE)

    def _listing(self, budget: int) -> dict[str, list[SearchHit]] | None:
        index: dict[str, list[SearchHit]] = {}
        for n, hit in enumerate(self.api.list_image_sets(self.datastore_id)):
            if n >= budget:
                return None
            value = unpadded((hit.dicom_tags or {}).get(PATIENT_KEY))
            if value is not None:
                index.setdefault(value, []).append(hit)
        return index

    @property
    def listed(self) -> bool:
        """Whether the datastore was listed (else each patient is searched for)."""
        return self._index is not None

    def find(self, patient_id: str) -> list[SearchHit]:
        if self._index is not None:
            return list(self._index.get(patient_id, ()))
        return list(self.api.search_image_sets(self.datastore_id, PATIENT_KEY, patient_id))


@dataclass(frozen=True)
class Target:
    """A spec target: ``select`` by (KEY, VALUE), or one image set by ID."""

    select: tuple[str, str] | None = None
    image_set_id: str | None = None


@dataclass(frozen=True)
class Resolution:
    """The targets of one correction's spec (empty: nothing to write) and a note, without patient values."""

    targets: tuple[Target, ...]
    note: str = ""


def _issuer(api: HealthImagingAPI, datastore_id: str, hit: SearchHit) -> str:
    """IssuerOfPatientID of HIT's image set at the version the search saw ("" when it holds none)."""
    live: Mapping[str, Any] = api.get_image_set_metadata(datastore_id, hit.image_set_id, hit.version)
    patient = live.get("Patient")
    dicom = patient.get("DICOM") if isinstance(patient, Mapping) else None
    return unpadded(dicom.get("IssuerOfPatientID") if isinstance(dicom, Mapping) else None) or ""


def patient_image_sets(directory: Directory, who: Identifier) -> tuple[list[SearchHit], int]:
    """(WHO's image sets, how many image sets hold WHO's ID under another issuer)."""
    hits = directory.find(who.id)
    if not who.issuer or not hits:
        return hits, 0
    mine = [h for h in hits if _issuer(directory.api, directory.datastore_id, h) in ("", who.issuer)]
    return mine, len(hits) - len(mine)


def _others(count: int) -> str:
    return (f"; {count} image set{'s' if count != 1 else ''} with this ID belong{'s' if count == 1 else ''} to "
            "another issuer (IssuerOfPatientID) and are left alone") if count else ""


def resolve(directory: Directory, correction: Correction) -> Resolution:
    """The targets of CORRECTION's spec in the directory's datastore."""
    api, datastore_id = directory.api, directory.datastore_id
    who = correction.subject
    mine, foreign = patient_image_sets(directory, who)
    role = "prior patient" if correction.prior else "patient"
    if not mine:
        return Resolution((), f"no image set of the {role} in datastore {datastore_id}{_others(foreign)}")
    if correction.prior is None:
        if not foreign:
            return Resolution((Target(select=(PATIENT_KEY, who.id)),))
        return Resolution(tuple(Target(image_set_id=h.image_set_id) for h in sorted(mine, key=_id)),
                          f"pinned by image set ID{_others(foreign)}")
    return Resolution(_merge_targets(api, datastore_id, mine), _others(foreign).lstrip("; "))


def _id(hit: SearchHit) -> str:
    return hit.image_set_id


def _merge_targets(api: HealthImagingAPI, datastore_id: str, mine: list[SearchHit]) -> tuple[Target, ...]:
    by_study: dict[str | None, list[str]] = {}
    for hit in sorted(mine, key=_id):
        by_study.setdefault(hit.study, []).append(hit.image_set_id)
    targets: list[Target] = []
    for study, members in sorted(by_study.items(), key=lambda item: item[1][0]):
        whole = study is not None and {h.image_set_id for h in study_image_sets(api, datastore_id, study)} == set(
            members)
        if whole and study is not None:
            targets.append(Target(select=(STUDY_KEY, study)))
        else:
            targets += [Target(image_set_id=i) for i in members]
    return tuple(targets)
