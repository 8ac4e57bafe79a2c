"""What a primary image set refuses, in one place for the planner and the emulator.

HealthImaging's documentation is the source of each rule; where it is silent or contradicts itself, the
conservative reading is taken (the one that cannot break a study), and the emulator has a knob to relax
each rule (``reconciler.emulator.knobs``):

- ``UPDATE_PAGE`` (https://docs.aws.amazon.com/healthimaging/latest/devguide/update-image-set-metadata.html):
  "The Patient and Series level metadata elements can not be updated for primary image sets. The
  UpdateImageSet will not support --force to update StudyInstanceUID, SeriesInstanceUID, and
  SOPInstanceUID for primary image sets." (``attribute_reason``)
- the same page on ``force``: it "allows you to update elements of non-primary image sets", so a forced
  update of a primary image set is refused whatever it changes (``FORCE_REASON``).
- the same page, older and newer versions: the older one allows removing "Series and SOP Instances", the
  newer one "individual SOP Instances" only. A whole series removed from a primary image set is refused
  (``SERIES_REMOVAL_REASON``); one instance is allowed.
- ``STUDY_PAGE`` (https://docs.aws.amazon.com/healthimaging/latest/devguide/understanding-image-sets.html):
  data that conflicts with an existing primary image set is stored as non-primary "until the conflict
  is resolved". So a promotion (CopyImageSet ``promoteToPrimary``) is refused while another primary
  image set of the same StudyInstanceUID holds other Patient-level metadata (``patient_conflict``): a
  study's primary image sets agree on the patient, and a Patient-level fix reaches them all together.

Reasons name the rule and the page, never a value (the values are patient data).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from reconciler.dicom.constraints import FORCE_TAGS
from reconciler.dicom.normalize import dicom_equal

UPDATE_PAGE = "https://docs.aws.amazon.com/healthimaging/latest/devguide/update-image-set-metadata.html"
STUDY_PAGE = "https://docs.aws.amazon.com/healthimaging/latest/devguide/understanding-image-sets.html"
REFUSED_LEVELS = ("Patient", "Series")
REFUSED_UIDS = frozenset({"StudyInstanceUID", "SeriesInstanceUID", "SOPInstanceUID"})
REFUSED_UID_TAGS = frozenset(FORCE_TAGS) - {"00200010"}  # the three UIDs by tag, not StudyID

FORCE_REASON = ("force cannot be used on a primary image set: the update page says force lets you "
                "\"update elements of non-primary image sets\"")
SERIES_REMOVAL_REASON = ("a whole series cannot be removed from a primary image set: the update page allows "
                         "removing \"individual SOP Instances\"")
PROMOTION_REASON = ("another primary image set of the same StudyInstanceUID holds other Patient-level metadata; "
                    "data that conflicts with a primary image set stays non-primary \"until the conflict is "
                    "resolved\"")


def attribute_reason(key: str, level: str) -> str | None:
    """Why a primary image set refuses a change of KEY at LEVEL (set or removed), or None."""
    if key in REFUSED_UIDS or key.upper() in REFUSED_UID_TAGS:
        return f"{key} cannot be changed on a primary image set, not even with force"
    if level in REFUSED_LEVELS:
        return f"{level}-level metadata elements cannot be updated on a primary image set"
    return None


def is_series_removal(path: tuple[str, ...]) -> bool:
    """Whether PATH (of a removed node) is a whole series: ``("Study", "Series", UID)``."""
    return len(path) == 3 and path[:2] == ("Study", "Series")


def patient_conflict(mine: Mapping[str, Any], theirs: Mapping[str, Any]) -> bool:
    """Whether two metadata documents hold other Patient-level values (absent and empty are the same,
    trailing padding aside)."""
    return not dicom_equal(_patient(mine), _patient(theirs))


def _patient(doc: Mapping[str, Any]) -> Mapping[str, Any]:
    patient = doc.get("Patient")
    dicom = patient.get("DICOM") if isinstance(patient, Mapping) else None
    return dicom if isinstance(dicom, Mapping) else {}
