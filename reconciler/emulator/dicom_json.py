"""One DICOM data set as HealthImaging writes it in a metadata document: keyword (or 8-hex tag) keys,
strings with their padding, numbers as numbers, binary as base64, sequences as lists of objects, and
multi-valued attributes as lists. This is DICOM's JSON model (DICOM PS3.18 section F.2,
https://dicom.nema.org/medical/dicom/current/output/chtml/part18/sect_F.2.html) as the service's
documents show it (https://docs.aws.amazon.com/healthimaging/latest/devguide/understanding-image-sets.html).
"""

from __future__ import annotations

import base64
import functools
import math
import re
from collections.abc import Iterable, Iterator
from typing import Any

from pydicom import config
from pydicom.charset import decode_bytes
from pydicom.datadict import dictionary_has_tag, dictionary_keyword, dictionary_VM
from pydicom.dataelem import DataElement, RawDataElement
from pydicom.dataset import Dataset
from pydicom.hooks import hooks

from reconciler.padding import unpad

_BINARY_VRS = {"OB", "OD", "OF", "OL", "OV", "OW", "UN"}
_NUMBER_VRS = {"US", "UL", "SS", "SL", "FL", "FD", "SV", "UV"}
_TEXT_VRS = {"LO", "LT", "PN", "SH", "ST", "UC", "UT", "UR"}  # decoded with the specific character set
_SINGLE_VALUE_VRS = {"LT", "ST", "UT", "UR"}  # backslash is text here, not a value separator
_SKIPPED = {0x7FE00010, 0x7FE00008, 0x7FE00009, 0xFFFCFFFC}  # pixel data (all kinds), trailing padding
_RAW_BINARY_VRS = {"OB", "OD", "OF", "OL", "OV", "OW"}  # pydicom keeps these bytes as read
# String VRs whose pydicom conversion never raises (DS and IS may) and keeps any ASCII letter or digit;
# DA, DT and TM only while pydicom converts them to str (config.datetime_conversion off).
_RAW_STRING_VRS = {"AE", "AS", "CS", "UI", "UR", "LO", "LT", "PN", "SH", "ST", "UC", "UT"}
_DATETIME_VRS = {"DA", "DT", "TM"}
_ALNUM = re.compile(rb"[0-9A-Za-z]")
_TAG_KEY = re.compile(r"[0-9A-F]{8}")
_DEFAULT_HOOKS = (hooks.raw_element_vr, hooks.raw_element_value)


def encode_dataset(ds: Dataset, encodings: list[str]) -> Iterator[tuple[str, str, Any]]:
    """(key, VR, JSON value) for each element: keyword, or 8-hex tag for private/unknown ones."""
    for tag in list(ds.keys()):
        if int(tag) in _SKIPPED or (tag.element == 0 and tag.group != 2):  # group lengths are retired
            continue
        raw = ds.get_item(tag)
        quick = _from_raw(raw, ds, encodings) if isinstance(raw, RawDataElement) else None
        if quick is not None:
            yield quick
            continue
        elem = ds[tag]
        key = elem.keyword or f"{int(tag):08X}"
        yield key, str(elem.VR), element_json(raw, elem, encodings)


def _from_raw(raw: RawDataElement, ds: Dataset, encodings: list[str]) -> tuple[str, str, Any] | None:
    """(key, VR, JSON value) of an element still as read from the file, without pydicom converting its value,
    when the answer cannot differ from ``element_json``'s on the converted element: binary read as is,
    or a string VR whose bytes are ASCII (no ISO 2022 escape) with a letter or digit, so pydicom's value is
    not empty; ``element_json`` takes the value from those bytes either way. None: convert it as usual.
    """
    value = raw.value
    if not value or config.data_element_callback or hooks.raw_element_kwargs \
            or (hooks.raw_element_vr, hooks.raw_element_value) != _DEFAULT_HOOKS:
        return None
    found: dict[str, Any] = {}
    hooks.raw_element_vr(raw, found, ds=ds)  # the VR pydicom would give the element
    vr = str(found["VR"])
    if vr in _RAW_BINARY_VRS:
        return _keyword(int(raw.tag)) or f"{int(raw.tag):08X}", vr, base64.b64encode(value).decode("ascii")
    if not (vr in _RAW_STRING_VRS or (vr in _DATETIME_VRS and not config.datetime_conversion)):
        return None
    if not value.isascii() or b"\x1b" in value or _ALNUM.search(value) is None:
        return None
    values = _strings(vr, value, None, encodings)
    tag = int(raw.tag)
    return _keyword(tag) or f"{tag:08X}", vr, values if len(values) > 1 or _multi_valued_tag(tag) else values[0]


@functools.cache
def _keyword(tag: int) -> str:
    """``DataElement.keyword`` of TAG: its dictionary keyword, or "" for a private or unknown tag."""
    return dictionary_keyword(tag) if dictionary_has_tag(tag) else ""


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


def _strings(vr: str, raw_bytes: bytes | None, elem: DataElement | None, encodings: list[str]) -> list[str]:
    if raw_bytes is None:  # already converted by pydicom (e.g. file meta): rebuild from the values
        assert elem is not None
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
    return _multi_valued_tag(int(elem.tag))


@functools.cache
def _multi_valued_tag(tag: int) -> bool:
    try:
        return dictionary_VM(tag) != "1"
    except KeyError:
        return False


def is_keyword(key: str) -> bool:
    """True for a keyword key, False for an 8-hex tag key (a private or unknown attribute)."""
    return not _TAG_KEY.fullmatch(key)
