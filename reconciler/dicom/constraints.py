"""HealthImaging's documented constraints on UpdateImageSetMetadata, as data and one function.

Source: https://docs.aws.amazon.com/healthimaging/latest/devguide/dicom-metadata-constraints.html.
Used by the emulator (enforcement), the planner (checks) and the validator.
"""

from __future__ import annotations

from typing import Any

from reconciler.dicom.dictionary import is_private_tag, is_tag_key, lookup
from reconciler.dicom.vr import check_value, max_multiplicity

GENERATED_KEYS = frozenset({
    # constraint 2, verbatim
    "SchemaVersion", "DatastoreID", "ImageSetID", "PixelData", "Checksum", "Width", "Height",
    "MinPixelValue", "MaxPixelValue", "FrameSizeInBytes",
    # the structures those live in, and other keys HealthImaging writes itself (reference 1.2)
    "ImageFrames", "PixelDataChecksumFromBaseToFullResolution", "StoredTransferSyntaxUID", "ChecksumType",
})
"""Keys HealthImaging generates: an update may never set or remove them, even with force."""

FORCE_KEYS = frozenset({"StudyInstanceUID", "SeriesInstanceUID", "SOPInstanceUID", "StudyID"})
"""Identifying attributes that only change with ``force`` (constraint 3)."""

FORCE_TAGS = frozenset({"0020000D", "0020000E", "00080018", "00200010"})
"""``FORCE_KEYS`` by tag: StudyInstanceUID, SeriesInstanceUID, SOPInstanceUID, StudyID."""


def is_generated(key: str) -> bool:
    """True for a HealthImaging-generated key (``PixelData`` also by its tag ``7FE00010``)."""
    return key in GENERATED_KEYS or key.upper() == "7FE00010"


def force_reason(key: str, vr: str | None, new_value: Any) -> str | None:
    """Why setting ``key`` to ``new_value`` needs ``force``, or None. Never mentions the value.

    ``vr`` overrides the dictionary VR (private tags carry theirs in DICOMVRs). ``new_value=None``
    (a removal) only checks the key-based rules: identifying UIDs and private tags.
    """
    entry = lookup(key)
    if key in FORCE_KEYS or key.upper() in FORCE_TAGS:
        # in words, not the documented constraint's number; the same words for each key, so that
        # ``render.warnings`` counts an imported spec's UIDs as one kind of warning
        return f"{entry.keyword if entry else key} is an identifying attribute, a UID or the Study ID"
    if is_private_tag(key):
        return "it is a private attribute"
    if entry is None:
        kind = "tag" if is_tag_key(key) else "keyword"
        return f"it is not a standard DICOM attribute (unknown {kind})"
    if new_value is None:
        return None
    vr = vr or entry.vr
    if vr == "SQ":
        return "it is a sequence (VR SQ)"
    top = max_multiplicity(entry.vm)
    if isinstance(new_value, list) and (len(new_value) > 1 or top is None or top > 1):
        return "it is multi-valued"
    problems = check_value(vr, entry.vm, new_value)
    if problems:
        return f"the value is not compatible with VR {vr}: value {problems[0]}"
    return None
