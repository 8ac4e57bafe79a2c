"""One DICOM data set as HealthImaging writes it in a metadata document: keyword (or 8-hex tag) keys,
strings with their padding, numbers as numbers, binary as base64, sequences as lists of objects, and
multi-valued attributes as lists. This is DICOM's JSON model (DICOM PS3.18 section F.2,
https://dicom.nema.org/medical/dicom/current/output/chtml/part18/sect_F.2.html) as the service's
documents show it (https://docs.aws.amazon.com/healthimaging/latest/devguide/understanding-image-sets.html).
"""

from __future__ import annotations

import base64
import math
import re
from collections.abc import Iterable, Iterator
from typing import Any

from pydicom.charset import decode_bytes
from pydicom.datadict import dictionary_VM
from pydicom.dataelem import DataElement, RawDataElement
from pydicom.dataset import Dataset

from reconciler.padding import unpad

_BINARY_VRS = {"OB", "OD", "OF", "OL", "OV", "OW", "UN"}
_NUMBER_VRS = {"US", "UL", "SS", "SL", "FL", "FD", "SV", "UV"}
_TEXT_VRS = {"LO", "LT", "PN", "SH", "ST", "UC", "UT", "UR"}  # decoded with the specific character set
_SINGLE_VALUE_VRS = {"LT", "ST", "UT", "UR"}  # backslash is text here, not a value separator
_SKIPPED = {0x7FE00010, 0x7FE00008, 0x7FE00009, 0xFFFCFFFC}  # pixel data (all kinds), trailing padding


def encode_dataset(ds: Dataset, encodings: list[str]) -> Iterator[tuple[str, str, Any]]:
    """(key, VR, JSON value) for each element: keyword, or 8-hex tag for private/unknown ones."""
    for tag in list(ds.keys()):
        if int(tag) in _SKIPPED or (tag.element == 0 and tag.group != 2):  # group lengths are retired
            continue
        raw = ds.get_item(tag)
        elem = ds[tag]
        key = elem.keyword or f"{int(tag):08X}"
        yield key, str(elem.VR), element_json(raw, elem, encodings)


def element_json(raw: RawDataElement | DataElement | None, elem: DataElement, encodings: list[str]) -> Any:
    """One element's value as HealthImaging writes it: strings keep their padding, numbers are
    numbers, binary is base64, SQ is a list of objects, multi-valued attributes are lists."""
    vr = str(elem.VR)
    if vr == "SQ":
        return [{k: v for k, _vr, v in encode_dataset(item, encodings)} for item in elem.value or []]
    raw_bytes = raw.value if isinstance(raw, RawDataElement) else None
    if (raw_bytes is not None and len(raw_bytes) == 0) or elem.is_empty:
        return None
    if vr in _BINARY_VRS:
        data = raw_bytes if raw_bytes is not None else elem.value
        return base64.b64encode(bytes(data)).decode("ascii")
    if vr in _NUMBER_VRS:
        values: list[Any] = [_number(v) for v in _as_list(elem.value)]
    elif vr == "AT":
        values = [f"{int(v):08X}" for v in _as_list(elem.value)]
    else:
        values = _strings(vr, raw_bytes, elem, encodings)
    return values if len(values) > 1 or _multi_valued(elem) else values[0]


def _strings(vr: str, raw_bytes: bytes | None, elem: DataElement, encodings: list[str]) -> list[str]:
    if raw_bytes is None:  # already converted by pydicom (e.g. file meta): rebuild from the values
        text = "\\".join(getattr(v, "original_string", None) or str(v) for v in _as_list(elem.value))
    elif vr in _TEXT_VRS:
        text = decode_bytes(raw_bytes, encodings, {0x5C, 0x5E, 0x3D} if vr == "PN" else {0x5C})
    else:
        text = raw_bytes.decode("latin-1")
    if vr == "UI":
        text = unpad(text)  # UIDs are padded with NUL, which is not part of the value
    return [text] if vr in _SINGLE_VALUE_VRS else text.split("\\")


def _number(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)  # NaN/Infinity are not JSON
    return value if isinstance(value, int | float) else float(value)


def _as_list(value: Any) -> list[Any]:
    if isinstance(value, str | bytes) or not isinstance(value, Iterable):
        return [value]
    return list(value)


def _multi_valued(elem: DataElement) -> bool:
    """True when the dictionary allows more than one value (HealthImaging then always writes a list)."""
    try:
        return dictionary_VM(elem.tag) != "1"
    except KeyError:
        return False


def is_keyword(key: str) -> bool:
    """True for a keyword key, False for an 8-hex tag key (a private or unknown attribute)."""
    return not re.fullmatch(r"[0-9A-F]{8}", key)
