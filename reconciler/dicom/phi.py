"""Which attributes identify a patient: DICOM PS3.15 Annex E, Table E.1-1, as data.

The keyword list (``data/phi.json``, its ``source`` field holds the URL) is every attribute the Basic
Application Level Confidentiality Profile removes or replaces. Private tags and anything we cannot
identify are treated as PHI too: the check fails closed.
"""

from __future__ import annotations

from reconciler.dicom._data import load
from reconciler.dicom.constraints import is_generated
from reconciler.dicom.dictionary import is_private_tag, is_tag_key, lookup

_TABLE = load("phi")
SOURCE: str = _TABLE["source"]
PHI_KEYWORDS: frozenset[str] = frozenset(_TABLE["keywords"])


def _repeating_group_phi(key: str) -> bool:
    """Curve data (50xx,xxxx) and overlay data/comments (60xx,3000 / 60xx,4000) from Table E.1-1."""
    group, element = int(key[:4], 16), key[4:].upper()
    return 0x5000 <= group <= 0x50FF or (0x6000 <= group <= 0x60FF and element in {"3000", "4000"})


def is_phi(key: str) -> bool:
    """True when values of ``key`` (a keyword or 8-hex-digit tag) may identify a patient."""
    if key in PHI_KEYWORDS:
        return True
    if is_generated(key):
        return False
    if is_tag_key(key):
        if is_private_tag(key) or _repeating_group_phi(key):
            return True
        entry = lookup(key)
        return entry is None or entry.keyword in PHI_KEYWORDS
    return lookup(key) is None  # unknown keyword: fail closed
