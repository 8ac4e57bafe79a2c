"""Where a key belongs, when it is written at the wrong place (a wrong indent, a forgotten level).

Both the schema layer (an unknown key) and the DICOM layer (an unknown keyword inside a DICOM map)
ask ``misplaced``; a misspelt key gets ``did_you_mean`` instead. Messages name keys and paths only.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from reconciler.dicom.dictionary import is_tag_key, lookup, suggest
from reconciler.dicom.levels import Level, level_of
from reconciler.spec.model import Path

LEVEL_PATHS: dict[Level, str] = {
    "Patient": "Patient.DICOM",
    "Study": "Study.DICOM",
    "Series": "Study.Series.<SeriesInstanceUID>.DICOM",
    "Instance": "Study.Series.<SeriesInstanceUID>.Instances.<SOPInstanceUID>.DICOM",
}
"""Where the attributes of each level are written in a spec's ``desired`` tree."""

_UID_RE = re.compile(r"(0|[1-9][0-9]*)(\.(0|[1-9][0-9]*))+")
_SERIES = "Study.Series.<SeriesInstanceUID>"
_INSTANCES = f"{_SERIES}.Instances.<SOPInstanceUID>"
_HOMES: dict[str, str] = {
    "apiVersion": "at the top of the document, beside `target`",
    "kind": "at the top of the document, beside `target`",
    "target": "at the top of the document, beside `desired`",
    "force": "at the top of the document, beside `target`",
    "studyWide": "at the top of the document, beside `target`",
    "replace": "at the top of the document, beside `target`",
    "desired": "at the top of the document, beside `target`",
    "datastoreId": "under `target`: target.datastoreId",
    "imageSetId": "under `target`: target.imageSetId",
    "select": "under `target`: target.select",
    "Patient": "directly under `desired`: desired.Patient",
    "Study": "directly under `desired`: desired.Study",
    "Series": f"under Study, beside DICOM: {_SERIES}",
    "Instances": f"under a series, beside its DICOM: {_INSTANCES}",
}


def misplaced(key: str, parent: Path) -> str | None:
    """Why ``key`` does not belong under ``parent`` (a full document path) and where it goes, or None
    when it is not a key the spec format knows elsewhere (then it is unknown or misspelt)."""
    where = _kind_of(parent)
    if where is None:
        return None
    if where == "uids" and key in {"DICOM", "DICOMVRs", "Instances"}:
        uid = "SeriesInstanceUID" if parent[-1] == "Series" else "SOPInstanceUID"
        home = _SERIES if parent[-1] == "Series" else _INSTANCES
        return f"{parent[-1]} keys are {uid}s: write `{key}` under one: {home}.{key}"
    if where == "dicom" and key in {"DICOM", "DICOMVRs"}:
        return f"`{key}` belongs beside this DICOM map, not inside it"
    if key in _HOMES:
        return f"`{key}` belongs {_HOMES[key]}"
    if where in {"desired", "level"} and (is_tag_key(key) or lookup(key) is not None):
        return f"`{key}` is a DICOM attribute: write it under {LEVEL_PATHS[level_of(key)]}"
    if where == "level" and _UID_RE.fullmatch(key):  # a forgotten `Series:` or `Instances:` line
        if parent[1:] == ("Study",):
            return f"this key looks like a SeriesInstanceUID: write it under `Series`: {_SERIES}"
        if _is_series(parent[1:]):
            return f"this key looks like a SOPInstanceUID: write it under `Instances`: {_INSTANCES}"
    return None


def did_you_mean(key: str, known: Iterable[str]) -> str:
    """``; did you mean `desired`?`` for a near miss of one of ``known``, else an empty string."""
    hint = suggest(key, known)
    return f"; did you mean `{hint}`?" if hint else ""


def _kind_of(parent: Path) -> str | None:
    """What sort of mapping ``parent`` is: top, target, desired, level, uids, dicom; None elsewhere."""
    if parent in {(), ("target",)}:
        return "top" if not parent else "target"
    if parent[0] != "desired":
        return None
    inner = parent[1:]
    if not inner:
        return "desired"
    if inner in {("Patient",), ("Study",)} or _is_series(inner) or _is_instance(inner):
        return "level"
    if inner == ("Study", "Series") or (len(inner) == 4 and _is_series(inner[:3]) and inner[3] == "Instances"):
        return "uids"
    if inner[-1] == "DICOM" and (inner[:-1] in {("Patient",), ("Study",)} or _is_series(inner[:-1])
                                 or _is_instance(inner[:-1])):
        return "dicom"
    return None


def _is_series(inner: Path) -> bool:
    return len(inner) == 3 and inner[:2] == ("Study", "Series")


def _is_instance(inner: Path) -> bool:
    return len(inner) == 5 and _is_series(inner[:3]) and inner[3] == "Instances"
