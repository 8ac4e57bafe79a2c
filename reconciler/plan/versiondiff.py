"""Whole-document diff of two versions of one image set, as plan changes (for revert and history --diff).

The planner's diff walks a spec; this one compares two complete metadata documents. It stays about as
fast as parsing one document, whatever its size, because equal subtrees are pruned before anything is
diffed: Patient, Study, each series, each instance and each of their entries is first compared by plain
equality (C speed, stopping at the first difference), and only what differs is handed to deepdiff
(https://zepworks.com/deepdiff/current/), which finds the differing paths in it. A whole-document
deepdiff of a 5,000-instance image set takes tens of seconds; this takes a fraction of one parse.

Series and instances are matched by their UID keys: one on one side only is a whole-node add or remove,
so a re-keyed instance is a remove and an add. Inside a node, a DICOM attribute is the unit of change
and compares with DICOM equality (PS3.5 section 6.2: padding, DS and IS as numbers), its VR taken from
the node's DICOMVRs or the data dictionary. Paths are tuples, as in the plan (list indices outside the
DICOM maps are written ``ImageFrames[0]``). Values are kept raw: redaction happens at render time.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from reconciler.api import HealthImagingAPI, ImageSetInfo
from reconciler.plan import rules
from reconciler.plan.model import Change, Op, Path

__all__ = ["diff_history", "diff_versions"]

_MISSING: Any = object()
_FIXED = {"Document": {"Patient": "Patient", "Study": "Study"}}  # level -> {key: child level}
_KEYED = {"Study": ("Series", "Series"), "Series": ("Instances", "Instance")}  # level -> (key, child level)
_ATTRIBUTE_MAPS = ("DICOM", "DICOMVRs")  # their entries are the unit of change


def diff_versions(before: Mapping[str, Any], after: Mapping[str, Any]) -> tuple[Change, ...]:
    """The changes that turn the document ``before`` into ``after`` (two versions of one image set)."""
    out: list[Change] = []
    if before != after:
        _node(out, "Document", (), before, after)
    return tuple(out)


def diff_history(
    api: HealthImagingAPI, datastore_id: str, image_set_id: str, versions: Sequence[ImageSetInfo]
) -> Iterator[tuple[str, str, tuple[Change, ...]]]:
    """(version, the version before it, changes) for each version but the oldest of VERSIONS (newest first).

    Oldest first, reading each version's metadata once and holding at most two documents.
    """
    older: tuple[str, Mapping[str, Any]] | None = None
    for info in reversed(versions):
        doc = api.get_image_set_metadata(datastore_id, image_set_id, version=info.version_id)
        if older is not None:
            yield info.version_id, older[0], diff_versions(older[1], doc)
        older = (info.version_id, doc)


def _union(a: Mapping[str, Any], b: Mapping[str, Any]) -> list[str]:
    """The keys of A, then those only in B: document order, deterministic."""
    return [*a, *(k for k in b if k not in a)]


def _node(out: list[Change], level: str, path: Path, a: Mapping[str, Any], b: Mapping[str, Any]) -> None:
    """One node known to differ, entry by entry: equal entries pruned, children recursed into, the rest diffed."""
    fixed = _FIXED.get(level, {})
    keyed = _KEYED.get(level)
    for key in _union(a, b):
        va, vb = a.get(key, _MISSING), b.get(key, _MISSING)
        if va is not _MISSING and vb is not _MISSING and va == vb:
            continue  # pruned: equal subtree
        if key in fixed and all(v is _MISSING or isinstance(v, Mapping) for v in (va, vb)):
            # a Patient or Study on one side only is diffed against an empty one: attribute by attribute,
            # so that its values are redacted like any other
            _node(out, fixed[key], (*path, key), _as_map(va), _as_map(vb))
        elif keyed is not None and key == keyed[0] and all(v is _MISSING or isinstance(v, Mapping) for v in (va, vb)):
            _children(out, keyed[1], (*path, key), _as_map(va), _as_map(vb))
        else:
            _deep(out, path, a, b, [key])


def _children(out: list[Change], level: str, path: Path, a: Mapping[str, Any], b: Mapping[str, Any]) -> None:
    """Series of a study or instances of a series, matched by UID key."""
    for uid in _union(a, b):
        va, vb = a.get(uid, _MISSING), b.get(uid, _MISSING)
        if vb is _MISSING:
            out.append(Change("remove", (*path, uid), None, None, node=True))
        elif va is _MISSING:
            out.append(Change("add", (*path, uid), None, None, node=True))
        elif va == vb:
            continue
        elif isinstance(va, Mapping) and isinstance(vb, Mapping):
            _node(out, level, (*path, uid), va, vb)
        else:  # not a node at all: compare it as a value
            _deep(out, path, a, b, [uid])


def _deep(out: list[Change], path: Path, a: Mapping[str, Any], b: Mapping[str, Any], keys: list[str]) -> None:
    """Entries KEYS of two nodes, known to differ: DICOM attributes whole with DICOM equality, the rest by path."""
    for key in keys:
        va, vb = a.get(key, _MISSING), b.get(key, _MISSING)
        if key in _ATTRIBUTE_MAPS and all(v is _MISSING or isinstance(v, Mapping) for v in (va, vb)):
            ma, mb = _as_map(va), _as_map(vb)
            vrs = (_as_map(a.get("DICOMVRs")), _as_map(b.get("DICOMVRs"))) if key == "DICOM" else None
            for attr in _differing_keys(ma, mb):
                _append(out, (*path, key, attr), ma.get(attr, _MISSING), mb.get(attr, _MISSING), vrs)
        elif va is _MISSING or vb is _MISSING:
            _append(out, (*path, key), va, vb, None)
        else:
            for sub in _differing_paths(va, vb):
                _append(out, (*path, *_path_parts((key, *sub))), _get(va, sub), _get(vb, sub), None)


def _as_map(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _found(a: Any, b: Any) -> list[tuple[Any, ...]]:
    """Every path deepdiff reports between A and B (``()``: the values differ as a whole)."""
    # imported here: deepdiff (with pydantic, when installed) costs ~0.1 s of start-up that only the
    # commands comparing versions need
    from deepdiff import DeepDiff

    paths: dict[tuple[Any, ...], None] = {}
    for levels in DeepDiff(a, b, view="tree").values():
        for level in levels:
            paths[tuple(level.path(output_format="list"))] = None
    return list(paths)


def _differing_keys(a: Mapping[str, Any], b: Mapping[str, Any]) -> list[str]:
    """The entries of two attribute maps that differ (strictly; DICOM equality comes after), map order.

    Equal entries are pruned first, so deepdiff sees only the differing attributes (a few of an
    instance's dozens): what keeps a revert that touches every instance quick.
    """
    keys = _union(a, b)
    sub_a = {k: a[k] for k in keys if k in a and (k not in b or a[k] != b[k])}
    sub_b = {k: b[k] for k in keys if k in b and (k not in a or a[k] != b[k])}
    found = _found(sub_a, sub_b)
    # () when deepdiff reports the maps as a whole (few keys in common)
    differ = set(sub_a) | set(sub_b) if any(not p for p in found) else {p[0] for p in found}
    return [k for k in keys if k in differ]


def _differing_paths(a: Any, b: Any) -> list[tuple[Any, ...]]:
    """The paths where two values other than attribute maps differ, in document order."""
    def key(path: tuple[Any, ...]) -> tuple[tuple[int, int, str], ...]:
        return tuple((0, p, "") if isinstance(p, int) else (1, 0, str(p)) for p in path)
    return sorted(_found(a, b), key=key)


def _get(doc: Any, path: tuple[Any, ...]) -> Any:
    try:
        for part in path:
            doc = doc[part]
    except (KeyError, IndexError, TypeError):
        return _MISSING
    return doc


def _append(out: list[Change], path: Path, before: Any, after: Any,
            vrs: tuple[Mapping[str, Any], Mapping[str, Any]] | None) -> None:
    """One change; VRS (the DICOMVRs of both sides) when PATH is a DICOM attribute, compared DICOM-wise."""
    vr = None
    if vrs is not None:
        key = path[-1]
        vr = vrs[0].get(key) or vrs[1].get(key) or rules.dictionary_vr(key)
        if before is not _MISSING and after is not _MISSING and rules.values_equal(before, after, vr):
            return  # the same DICOM value (padding, number format)
    op: Op = "add" if before is _MISSING else "remove" if after is _MISSING else "change"
    out.append(Change(op, path, None if before is _MISSING else before, None if after is _MISSING else after, vr=vr))


def _path_parts(path: tuple[Any, ...]) -> list[str]:
    """Keys as strings; a list index joins the key before it: ``ImageFrames[0]``."""
    parts: list[str] = []
    for part in path:
        if isinstance(part, int) and parts:
            parts[-1] += f"[{part}]"
        else:
            parts.append(str(part))
    return parts
