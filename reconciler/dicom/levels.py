"""Which level (Patient, Study, Series, Instance) HealthImaging stores a DICOM attribute at.

The table is data (``data/levels.json``) copied from the HealthImaging developer guide, "Metadata
normalization"; its ``source`` field holds the URL. Anything not listed lives at the Instance level.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Literal, cast

from reconciler.dicom._data import load
from reconciler.dicom.dictionary import is_private_tag, is_tag_key, lookup

Level = Literal["Patient", "Study", "Series", "Instance"]
LEVELS: tuple[Level, ...] = ("Patient", "Study", "Series", "Instance")

_TABLE = load("levels")
SOURCE: str = _TABLE["source"]

_LISTED: dict[Level, frozenset[str]] = {
    cast(Level, level): frozenset(keywords) for level, keywords in _TABLE["levels"].items()
}
_BY_KEYWORD: dict[str, Level] = {kw: level for level, kws in _LISTED.items() for kw in kws}

LEVEL_KEYWORDS: Mapping[Level, frozenset[str]] = MappingProxyType(
    {**_LISTED, "Instance": frozenset()}
)
"""Keywords normalised to each level. ``Instance`` is empty: it holds everything not listed."""


def level_of(key: str) -> Level:
    """The level HealthImaging keeps ``key`` at: a keyword, or an 8-hex-digit tag key (a standard tag
    counts as its keyword; private tags and unknown keys live at the Instance level)."""
    level = _BY_KEYWORD.get(key)
    if level is None and is_tag_key(key) and not is_private_tag(key):
        entry = lookup(key)
        level = _BY_KEYWORD.get(entry.keyword) if entry else None
    return level or "Instance"
