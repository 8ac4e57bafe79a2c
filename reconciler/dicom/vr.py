"""Does a value fit its DICOM VR and VM? (PS3.5 section 6.2, as the metadata JSON carries values.)

Values follow HealthImaging's metadata JSON: strings for string VRs, numbers for binary numeric VRs,
lists for multi-valued attributes, lists of objects for SQ, base64 strings for bulk VRs. pydicom has
no validator for JSON-shaped values, so the rules are written here, each one a small function.
Messages name the VR and the rule, never the value (it may be patient data).
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import re
from collections.abc import Callable, Mapping
from typing import Any

from reconciler.padding import unpad

_MAX_LEN = {"AE": 16, "CS": 16, "DS": 16, "IS": 12, "LO": 64, "SH": 16, "ST": 1024, "LT": 10240,
            "UI": 64, "AS": 4, "UT": 4294967294, "UC": 4294967294,
            "UR": 4294967294}
STRING_VRS = frozenset({"AE", "AS", "CS", "DA", "DS", "DT", "IS", "LO", "LT", "PN", "SH", "ST", "TM",
                        "UC", "UI", "UR", "UT"})
NUMBER_VRS = frozenset({"US", "UL", "SS", "SL", "FL", "FD", "SV", "UV"})
BULK_VRS = frozenset({"OB", "OD", "OF", "OL", "OV", "OW", "UN"})
_INT_RANGE = {"US": (0, 2**16 - 1), "UL": (0, 2**32 - 1), "SS": (-(2**15), 2**15 - 1),
              "SL": (-(2**31), 2**31 - 1), "SV": (-(2**63), 2**63 - 1), "UV": (0, 2**64 - 1)}

_DS_RE = re.compile(r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?")
_IS_RE = re.compile(r"[+-]?\d+")
_AS_RE = re.compile(r"\d{3}[DWMY]")
_CS_RE = re.compile(r"[A-Z0-9 _]*")
_UI_RE = re.compile(r"(0|[1-9]\d*)(\.(0|[1-9]\d*))*")
_TM_RE = re.compile(r"(\d{2})(\d{2})?(\d{2})?(\.\d{1,6})?")
_DT_RE = re.compile(r"(\d{4})(\d{2})?(\d{2})?(\d{2})?(\d{2})?(\d{2})?(\.\d{1,6})?([+-]\d{4})?")


def vr_alternatives(vr: str) -> tuple[str, ...]:
    """The VRs a dictionary VR allows: ``"US or SS"`` -> ``("US", "SS")``, ``"LO"`` -> ``("LO",)``.

    PS3.6 gives some attributes a choice of VRs (PS3.5 section 6.2: e.g. ``US or SS``, ``OB or OW``).
    """
    return tuple(v.strip() for v in vr.split(" or ") if v.strip()) or (vr,)


def first_vr(vr: str | None) -> str | None:
    """The first VR of a choice (``"US or SS"`` -> ``"US"``): the one values are compared as. None stays None."""
    return vr_alternatives(vr)[0] if vr else None


def max_multiplicity(vm: str) -> int | None:
    """Largest number of values VM allows (``1`` -> 1, ``1-3`` -> 3, ``2-2n`` -> None: unbounded)."""
    top = vm.split("-")[-1].strip()
    if "n" in top or not top:
        return None
    try:
        return int(top)
    except ValueError:
        return None


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _check_date(text: str) -> str | None:
    try:
        dt.datetime.strptime(text, "%Y%m%d")
    except ValueError:
        return "is not a date in the form YYYYMMDD"
    return None if len(text) == 8 else "is not a date in the form YYYYMMDD"


def _check_time(text: str) -> str | None:
    m = _TM_RE.fullmatch(text)
    bad = "is not a time in the form HH[MM[SS[.FFFFFF]]]"
    if not m or (m.group(4) and not m.group(3)):
        return bad
    hh, mm, ss = (int(g) if g else 0 for g in m.group(1, 2, 3))
    return None if hh < 24 and mm < 60 and ss <= 60 else bad


def _check_datetime(text: str) -> str | None:
    m = _DT_RE.fullmatch(text)
    bad = "is not a date-time in the form YYYY[MM[DD[HH[MM[SS[.F]]]]]][&ZZXX]"
    if not m:
        return bad
    parts = [int(g) if g else None for g in m.group(2, 3, 4, 5, 6)]
    limits = [(1, 12), (1, 31), (0, 23), (0, 59), (0, 60)]
    ok = all(p is None or lo <= p <= hi for p, (lo, hi) in zip(parts, limits, strict=True))
    return None if ok else bad


def _check_pn(text: str) -> str | None:
    groups = text.split("=")
    if len(groups) > 3:
        return "has more than 3 component groups (PN)"
    for group in groups:
        if len(group) > 64:
            return "has a component group longer than 64 characters (PN)"
        if group.count("^") > 4:
            return "has more than 5 name components (PN)"
    return None


def _check_text(vr: str, text: str) -> str | None:
    checks: dict[str, Callable[[str], str | None]] = {
        "DA": _check_date,
        "TM": _check_time,
        "DT": _check_datetime,
        "PN": _check_pn,
        "DS": lambda t: None if _DS_RE.fullmatch(t.strip()) else "is not a decimal string (DS)",
        "IS": _check_is,
        "AS": lambda t: None if _AS_RE.fullmatch(t) else "is not an age in the form nnnD/W/M/Y (AS)",
        "CS": lambda t: None if _CS_RE.fullmatch(t) else "may only hold A-Z, 0-9, space and _ (CS)",
        "UI": lambda t: None if _UI_RE.fullmatch(t.rstrip("\0")) else "is not a valid UID (UI)",
    }
    check = checks.get(vr)
    return check(unpad(text) if vr not in {"DS", "IS", "UI"} else text) if check else None


def _check_is(text: str) -> str | None:
    stripped = text.strip()
    if not _IS_RE.fullmatch(stripped):
        return "is not an integer string (IS)"
    return None if -(2**31) <= int(stripped) < 2**31 else "is out of the IS range"


def _check_one(vr: str, value: Any) -> str | None:
    """One problem with a single (non-list) value, or None."""
    if value is None:
        return None
    if vr in STRING_VRS:
        if not isinstance(value, str):
            return f"must be a string for VR {vr}"
        limit = _MAX_LEN.get(vr)
        if limit is not None and len(unpad(value)) > limit:
            return f"is longer than {limit} characters (VR {vr})"
        return _check_text(vr, value) if unpad(value) else None
    if vr in NUMBER_VRS:
        if not _is_number(value):
            return f"must be a number for VR {vr}"
        if vr in _INT_RANGE:
            lo, hi = _INT_RANGE[vr]
            if not isinstance(value, int) or not lo <= value <= hi:
                return f"must be an integer in {lo}..{hi} for VR {vr}"
        return None
    if vr in BULK_VRS:
        if not isinstance(value, str):
            return f"must be a base64 string for VR {vr}"
        try:
            base64.b64decode(value, validate=True)
        except (binascii.Error, ValueError):
            return f"is not valid base64 for VR {vr}"
        return None
    if vr == "SQ":
        return None if isinstance(value, Mapping) else "must be a list of items (objects) for VR SQ"
    return None


def check_value(vr: str, vm: str, value: Any) -> list[str]:
    """Problems with ``value`` for VR/VM, as phrases to follow "value ..."; empty when it fits.

    A VR like ``US or SS`` accepts a value that fits either. ``None`` (empty element) always fits.
    """
    results = [_check_vr(alt, vm, value) for alt in vr_alternatives(vr)]
    return next((r for r in results if not r), results[0])


def _check_vr(vr: str, vm: str, value: Any) -> list[str]:
    if vr == "SQ":
        if value is None:
            return []
        if not isinstance(value, list):
            return ["must be a list of items (objects) for VR SQ"]
        return [p for item in value if (p := _check_one("SQ", item))][:1]
    if not isinstance(value, list):
        problem = _check_one(vr, value)
        return [problem] if problem else []
    problems: list[str] = []
    top = max_multiplicity(vm)
    if top is not None and len(value) > top:
        problems.append(f"has {len(value)} values but VM {vm} allows at most {top}")
    for i, item in enumerate(value, start=1):
        if isinstance(item, list | dict):
            problems.append(f"item {i} must be a single value, not a list or object")
        elif problem := _check_one(vr, item):
            problems.append(f"item {i} {problem}")
    return problems
