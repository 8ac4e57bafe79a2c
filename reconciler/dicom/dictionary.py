"""The DICOM data dictionary (pydicom's copy of PS3.6): look up keywords and tags, suggest near misses."""

from __future__ import annotations

import difflib
import importlib.util
import re
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cache
from pathlib import Path

# The tables are pydicom's copy of PS3.6 (pydicom/_dicom_dict.py, generated from the standard), read
# without importing the pydicom package: `import pydicom` costs ~0.15 s of CPU at every start (its
# configuration and pixel-data handlers), which every `plan` and `validate` would pay for one dictionary;
# the module itself is plain data (two dicts). tests/unit/dicom check that lookups equal pydicom's own
# ``get_entry`` for every entry, repeating groups included.

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


Entry = tuple[str, str, str, str, str]  # (VR, VM, name, "Retired" or "", keyword), as pydicom keeps them


@dataclass(frozen=True)
class _Tables:
    entries: dict[int, Entry]
    repeaters: dict[str, Entry]  # masks such as "60xx3000" (repeating groups, PS3.5 section 7.6)
    keywords: dict[str, int]
    masks: tuple[tuple[str, int, int], ...]  # (mask, its value with x = 0, the bits that must match)


@cache
def _tables() -> _Tables:
    spec = importlib.util.find_spec("pydicom")
    if spec is None or not spec.submodule_search_locations:
        raise ImportError("pydicom is not installed")
    source = Path(next(iter(spec.submodule_search_locations))) / "_dicom_dict.py"
    # loaded as a module of its own (its cached bytecode is reused), not as pydicom._dicom_dict
    module_spec = importlib.util.spec_from_file_location("reconciler.dicom._ps36", source)
    if module_spec is None or module_spec.loader is None:
        raise ImportError(f"cannot load {source}")
    module = importlib.util.module_from_spec(module_spec)
    module_spec.loader.exec_module(module)
    entries: dict[int, Entry] = module.DicomDictionary
    repeaters: dict[str, Entry] = module.RepeatersDictionary
    masks = tuple((m, int(m.replace("x", "0"), 16), int("".join("0" if c == "x" else "F" for c in m), 16))
                  for m in repeaters)
    return _Tables(entries, repeaters, {entry[4]: tag for tag, entry in entries.items()}, masks)


def _entry(tag: int) -> Entry | None:
    """pydicom's ``get_entry``: the dictionary, else a repeating group's mask (never for a private tag)."""
    tables = _tables()
    found = tables.entries.get(tag)
    if found is not None or (tag >> 16) % 2 == 1:
        return found
    for mask, value, bits in tables.masks:
        if (tag ^ value) & bits == 0:
            return tables.repeaters[mask]
    return None


@cache
def lookup(key: str) -> DictEntry | None:
    """The entry for a keyword (``PatientName``) or a tag key (``00100010``), else None."""
    if not key:
        return None
    if is_tag_key(key):
        tag = int(key, 16)
    else:
        found = _tables().keywords.get(key)
        if found is None:
            return None
        tag = found
    entry = _entry(tag)
    if entry is None:  # not in the dictionary (private or unknown tag)
        return None
    vr, vm, name, retired, keyword = entry
    return DictEntry(f"{tag:08X}", keyword, vr, vm, name, retired == "Retired")


@cache
def _keywords() -> tuple[str, ...]:
    return tuple(sorted(k for k in _tables().keywords if k))


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
