"""The DICOM data dictionary (pydicom's copy of PS3.6): look up keywords and tags, suggest near misses."""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cache

# pydicom is imported by the functions that read its dictionary, not here: importing it costs ~0.15 s of
# start-up that commands which never look up a keyword (`emulator serve`, `history`, `--help`) need not pay.

_TAG_RE = re.compile(r"[0-9A-Fa-f]{8}")


@dataclass(frozen=True)
class DictEntry:
    """One dictionary entry. ``tag`` is 8 upper-case hex digits, e.g. ``00100010``."""

    tag: str
    keyword: str
    vr: str
    vm: str
    name: str
    retired: bool


def is_tag_key(key: str) -> bool:
    """True when ``key`` is written as a tag: exactly 8 hex digits (``00091001``)."""
    return bool(_TAG_RE.fullmatch(key))


def is_private_tag(key: str) -> bool:
    """True for a tag key with an odd group number (a private attribute)."""
    return is_tag_key(key) and int(key[:4], 16) % 2 == 1


@cache
def lookup(key: str) -> DictEntry | None:
    """The entry for a keyword (``PatientName``) or a tag key (``00100010``), else None."""
    if not key:
        return None
    from pydicom.datadict import get_entry, keyword_dict

    if is_tag_key(key):
        tag = int(key, 16)
    else:
        found = keyword_dict.get(key)
        if found is None:
            return None
        tag = found
    try:
        vr, vm, name, retired, keyword = get_entry(tag)
    except KeyError:  # not in the dictionary (private or unknown tag)
        return None
    return DictEntry(f"{tag:08X}", keyword, vr, vm, name, retired == "Retired")


@cache
def _keywords() -> tuple[str, ...]:
    from pydicom.datadict import keyword_dict

    return tuple(sorted(k for k in keyword_dict if k))


def suggest(keyword: str, choices: Iterable[str] | None = None) -> str | None:
    """The closest of ``choices`` (default: the dictionary keywords) to a misspelt name, for "did you
    mean", or None. A name that differs only in case always matches."""
    if not keyword:
        return None
    known = _keywords() if choices is None else tuple(choices)
    lowered = {k.lower(): k for k in known}
    if keyword.lower() in lowered:  # wrong case only
        return lowered[keyword.lower()]
    match = difflib.get_close_matches(keyword, known, n=1, cutoff=0.8)
    return match[0] if match else None
