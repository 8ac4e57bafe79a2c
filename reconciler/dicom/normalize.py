"""DICOM-aware equality of a live value and a desired one, so no phantom change is ever planned.

HealthImaging keeps values as the P10 file had them, padding included (``"SeriesNumber": "1 "``),
while a spec holds what a person typed. Rules (PS3.5 6.2): trailing spaces/NULs of string VRs are
padding; DS and IS also ignore leading spaces and compare as numbers; PN ignores trailing empty
components; an empty string is the same as an empty element (None); a one-item list equals its item.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal, InvalidOperation
from typing import Any

from reconciler.dicom.dictionary import lookup
from reconciler.dicom.vr import NUMBER_VRS, STRING_VRS, first_vr
from reconciler.padding import PADDING, unpad


def values_equal(live: Any, desired: Any, vr: str | None) -> bool:
    """True when ``live`` and ``desired`` are the same DICOM value for ``vr`` (None: unknown VR).

    Never raises: on anything unexpected it falls back to strict equality.
    """
    try:
        return _equal(live, desired, first_vr(vr))
    except Exception:  # odd input must never break a plan; strict equality is the safe answer
        try:
            return bool(live == desired)
        except Exception:
            return False


def dicom_equal(mine: Mapping[str, Any], theirs: Mapping[str, Any]) -> bool:
    """Two ``DICOM`` objects hold the same values (absent and empty are the same; padding aside)."""
    for key in set(mine) | set(theirs):
        entry = lookup(key)
        if not values_equal(mine.get(key), theirs.get(key), entry.vr if entry else None):
            return False
    return True


def _equal(live: Any, desired: Any, vr: str | None) -> bool:
    if isinstance(live, list) or isinstance(desired, list):
        return _lists_equal(_as_list(live), _as_list(desired), vr)
    if isinstance(live, Mapping) and isinstance(desired, Mapping):
        return _items_equal(live, desired)
    if _is_empty(live) or _is_empty(desired):
        return _is_empty(live) and _is_empty(desired) and (vr is None or vr in STRING_VRS or
                                                            live is desired)
    return _scalars_equal(live, desired, vr)


def _is_empty(value: Any) -> bool:
    return value is None or (isinstance(value, str) and not unpad(value).lstrip(PADDING))


def _as_list(value: Any) -> list[Any]:
    if isinstance(value, list):
        return value
    return [] if value is None else [value]


def _lists_equal(live: list[Any], desired: list[Any], vr: str | None) -> bool:
    if len(live) != len(desired):
        return False
    return all(_equal(a, b, vr) for a, b in zip(live, desired, strict=True))


def _items_equal(live: Mapping[Any, Any], desired: Mapping[Any, Any]) -> bool:
    """SQ items: same keys, each value compared with its own dictionary VR."""
    if set(live) != set(desired):
        return False
    for key, value in live.items():
        entry = lookup(key) if isinstance(key, str) else None
        if not _equal(value, desired[key], first_vr(entry.vr) if entry else None):
            return False
    return True


def _scalars_equal(live: Any, desired: Any, vr: str | None) -> bool:
    if isinstance(live, bool) or isinstance(desired, bool):
        return bool(live == desired) and type(live) is type(desired)
    if isinstance(live, str) and isinstance(desired, str):
        return _strings_equal(live, desired, vr)
    numeric = isinstance(live, int | float) and isinstance(desired, int | float)
    if numeric and (vr is None or vr in NUMBER_VRS or vr in {"DS", "IS"}):
        return bool(live == desired)
    if vr in {"DS", "IS"}:  # a number on one side, a decimal string on the other
        return _decimal(str(live)) == _decimal(str(desired)) is not None
    return bool(live == desired)


def _strings_equal(live: str, desired: str, vr: str | None) -> bool:
    a, b = unpad(live), unpad(desired)
    if vr in {"DS", "IS"}:
        a, b = a.strip(), b.strip()
        da, db = _decimal(a), _decimal(b)
        if da is not None and db is not None:
            return da == db
    if vr == "PN":
        a, b = _trim_pn(a), _trim_pn(b)
    return a == b


def _trim_pn(name: str) -> str:
    return "=".join(group.rstrip("^") for group in name.split("=")).rstrip("=")


def _decimal(text: str) -> Decimal | None:
    try:
        value = Decimal(text)
    except (InvalidOperation, ValueError):
        return None
    return value if value.is_finite() else None
