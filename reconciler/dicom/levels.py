"""Which level (Patient, Study, Series, Instance) HealthImaging stores a DICOM attribute at.

The table is data (``data/levels.json``) copied from the HealthImaging developer guide, "Metadata
normalization"; its ``source`` field holds the URL. Anything not listed lives at the Instance level.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Literal, cast

from reconciler.dicom._data import load

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


def level_of(keyword: str) -> Level:
    """The level HealthImaging keeps ``keyword`` at (tags and unknown keywords: Instance)."""
    return _BY_KEYWORD.get(keyword, "Instance")
