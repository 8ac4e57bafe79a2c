"""The DICOM facts the diff needs, behind one small seam: level of an attribute, its VR, value
equality after normalisation, and the documented update constraints (what needs force, what is
forbidden). See https://docs.aws.amazon.com/healthimaging/latest/devguide/dicom-metadata-constraints.html
"""

from __future__ import annotations

import re
from typing import Any

from pydicom.datadict import dictionary_has_tag, dictionary_VR, keyword_for_tag, tag_for_keyword

from reconciler.plan._levels import LEVEL_OF

LEVELS = ("Patient", "Study", "Series", "Instance")

# Written by HealthImaging itself; no update may touch them (constraint 2).
GENERATED_KEYS = frozenset(
    {"SchemaVersion", "DatastoreID", "ImageSetID", "PixelData", "Checksum", "Width", "Height",
     "MinPixelValue", "MaxPixelValue", "FrameSizeInBytes"}
)
# Changeable only with force (constraint 3).
FORCE_KEYS = frozenset({"StudyInstanceUID", "SeriesInstanceUID", "SOPInstanceUID", "StudyID"})

_HEX_TAG = re.compile(r"^[0-9A-Fa-f]{8}$")
_NUMERIC_STRING_VRS = frozenset({"DS", "IS"})
_BINARY_NUMBER_VRS = frozenset({"US", "UL", "SS", "SL", "FL", "FD", "UV", "SV"})


def is_hex_tag(key: str) -> bool:
    return bool(_HEX_TAG.match(key))


def is_private(key: str) -> bool:
    """Private tags are 8-hex-digit keys with an odd group number."""
    return is_hex_tag(key) and int(key[:4], 16) % 2 == 1


def standard_keyword(key: str) -> str | None:
    """The dictionary keyword for ``key`` (a keyword or a standard hex tag), or None if not standard."""
    if is_hex_tag(key):
        if is_private(key):
            return None
        tag = int(key, 16)
        return (keyword_for_tag(tag) or None) if dictionary_has_tag(tag) else None
    return key if tag_for_keyword(key) is not None else None


def dictionary_vr(key: str) -> str | None:
    kw = standard_keyword(key)
    if kw is None:
        return None
    try:
        vr = str(dictionary_VR(kw))
    except KeyError:
        return None
    return vr.split(" or ")[0]


def level_of(key: str) -> str:
    """The HealthImaging level a (standard or private) attribute is normalised to."""
    kw = standard_keyword(key)
    return LEVEL_OF.get(kw, "Instance") if kw else "Instance"


def _norm_scalar(value: Any, vr: str | None) -> Any:
    if isinstance(value, str):
        text = value.rstrip(" \x00")
        if vr in _NUMERIC_STRING_VRS or vr in _BINARY_NUMBER_VRS:
            try:
                return float(text.strip())
            except ValueError:
                return text
        return text
    if isinstance(value, bool):
        return value
    if isinstance(value, int | float):
        return float(value)
    return value


def normalize(value: Any, vr: str | None) -> Any:
    """A comparable form: DICOM padding stripped, DS/IS as numbers, a one-item list as its item."""
    if isinstance(value, list):
        items = [normalize(v, vr) for v in value]
        return items[0] if len(items) == 1 and not isinstance(items[0], dict) else items
    if isinstance(value, dict):
        return {k: normalize(v, dictionary_vr(k)) for k, v in value.items()}
    return _norm_scalar(value, vr)


def values_equal(live: Any, desired: Any, vr: str | None) -> bool:
    """Equality after DICOM normalisation, so "1 " == "1" and "120" == "120.0" for DS."""
    if live == desired:
        return True
    return bool(normalize(live, vr) == normalize(desired, vr))


def _vr_incompatible(value: Any, vr: str | None) -> bool:
    values = value if isinstance(value, list) else [value]
    for v in values:
        if v is None:
            continue
        if vr in _NUMERIC_STRING_VRS:
            if isinstance(v, str):
                try:
                    float(v.strip() or "0")
                except ValueError:
                    return True
            elif not isinstance(v, int | float):
                return True
        elif vr in _BINARY_NUMBER_VRS and not isinstance(v, int | float):
            return True
    return False


def force_reason(key: str, before: Any, after: Any, vr: str | None) -> str | None:
    """Why changing ``key`` from ``before`` to ``after`` needs force, or None. Never names a value."""
    kw = standard_keyword(key)
    if kw in FORCE_KEYS:
        return f"{kw} can only be changed with force"
    if is_private(key):
        return "private attributes can only be changed with force"
    if kw is None:
        return "not a DICOM dictionary attribute"
    if vr == "SQ" or any(isinstance(v, list) and v and isinstance(v[0], dict) for v in (before, after)):
        return "sequence (SQ) attributes can only be changed with force"
    if any(isinstance(v, list) and len(v) > 1 for v in (before, after)):
        return "multi-valued attributes can only be changed with force"
    if _vr_incompatible(after, vr):
        return f"value is not compatible with VR {vr}"
    return None


def forbidden_reason(key: str, level: str) -> str | None:
    """Why ``key`` may never be written at ``level``, or None."""
    if key in GENERATED_KEYS:
        return f"{key} is generated by HealthImaging and cannot be changed"
    home = level_of(key)
    if home != level:
        return f"attribute belongs to the {home} level, not {level} (cross-level placement)"
    return None
