"""The diff: walk the spec (never the whole live document) and list the changes that make live
satisfy it. Pure: no I/O, no API. Attributes the spec does not name are never touched.

A series or instance the spec names by an old UID that live holds under the new UID the spec sets is
compared at its new key (``reconciler.plan.moves``), and its changes address it there. On a primary
image set, every change is also classified against what a primary refuses (``reconciler.dicom.primary``):
its Patient and Series levels and UIDs, anything that needs force, and a whole series removed.

Why hand-written rather than deepdiff: the cost must grow with the spec, not with the live document
(a whole-document deepdiff of a 5,000-instance image set takes seconds), and equality must be DICOM
equality (padding, DS/IS numbers), which a generic diff does not know.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from reconciler.dicom import tree
from reconciler.dicom.levels import Level
from reconciler.plan import moves, rules
from reconciler.plan.model import Change, Move, Op, Path
from reconciler.spec.model import format_path

__all__ = ["diff_image_set", "diff_with_moves", "format_path"]

_NODE_KEYS = {"Patient": ("DICOM", "DICOMVRs"), "Study": ("DICOM", "DICOMVRs", "Series"),
              "Series": ("DICOM", "DICOMVRs", "Instances"), "Instance": ("DICOM", "DICOMVRs")}


def diff_image_set(
    desired: Mapping[str, Any], live: Mapping[str, Any], force: bool, *, primary: bool = False
) -> tuple[Change, ...]:
    """The changes that make ``live`` satisfy ``desired``; ``force`` is the spec's ``force:`` flag,
    ``primary`` whether the image set is a primary image set."""
    return diff_with_moves(desired, live, force, primary=primary)[0]


def diff_with_moves(
    desired: Mapping[str, Any], live: Mapping[str, Any], force: bool, *, primary: bool = False
) -> tuple[tuple[Change, ...], tuple[Move, ...]]:
    """The changes (see ``diff_image_set``), and the spec's nodes that live holds under a new UID."""
    out: list[Change] = []
    moved: list[Move] = []
    for key, sub in desired.items():
        if key in tree.TOP_LEVELS:
            _level(out, moved, key, sub, live, (force, primary))
        else:
            out.append(_forbidden((key,), "only Patient and Study can be managed at the top level"))
    return tuple(out), tuple(moved)


def _forbidden(path: Path, reason: str, op: Op = "change", node: bool = False) -> Change:
    return Change(op, path, None, None, check="forbidden", reason=reason, node=node)


def _as_map(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


Flags = tuple[bool, bool]  # (the spec's force, the image set is primary)


def _level(out: list[Change], moved: list[Move], top: Level, want: Any, live: Mapping[str, Any],
           flags: Flags) -> None:
    """Patient or Study and, below Study, the series and instances the spec names (each where live
    holds it: a node re-keyed to the new UID the spec sets is compared there)."""
    stop: set[Path] = set()  # nodes whose children are not compared (removed, absent live, not a mapping)
    where: dict[Path, Path] = {}  # spec path -> live path, for nodes whose paths differ
    for node in tree.walk_node(top, (top,), want, descend=lambda n: n.path not in stop):
        path = node.path
        if node.level in moves.UID_KEYS:
            parent = where.get(path[:-2], path[:-2])
            path = moves.locate(live, parent, path[-2], path[-1], node.level, node.value)
            if path != node.path:
                where[node.path] = path
            if path[-1] != node.path[-1]:
                moved.append(Move(node.path, path))
        if not _node(out, tree.Node(node.level, path, node.value), tree.get_at(live, path, None), flags):
            stop.add(node.path)


def _node(out: list[Change], node: tree.Node, have: Any, flags: Flags) -> bool:
    """One level node (Patient, Study, a series or an instance): its DICOM attributes. Series and
    instances are keyed by UID; ``None`` removes the whole node. False: do not compare its children."""
    level, path, want = node.level, node.path, node.value
    if level in ("Series", "Instance"):
        if want is None:
            if have is not None:
                out.append(_node_removal(path, level, flags))
            return False
        if have is None:
            noun = "series" if level == "Series" else "instance"
            out.append(_forbidden(path, f"{noun} does not exist in the image set", op="add", node=True))
            return False
    if not isinstance(want, Mapping):
        out.append(_forbidden(path, f"{level} must be a mapping"))
        return False
    have_map = _as_map(have)
    for key in want:
        if key not in _NODE_KEYS[level]:
            out.append(_forbidden((*path, key), f"{key} is not a managed part of the {level} level"))
    spec_vrs = _as_map(want.get("DICOMVRs"))
    live_vrs = _as_map(have_map.get("DICOMVRs"))
    if "DICOM" in want:
        _attributes(out, level, (*path, "DICOM"), _as_map(want["DICOM"]), _as_map(have_map.get("DICOM")),
                    spec_vrs, live_vrs, flags)
    children = tree.children_key(level)
    if children is not None and children in want and not isinstance(want[children], Mapping):
        out.append(_forbidden((*path, children), f"{children} must be a mapping keyed by UID"))
    return True


def _attributes(
    out: list[Change],
    level: str,
    path: Path,
    want: Mapping[str, Any],
    have: Mapping[str, Any],
    spec_vrs: Mapping[str, Any],
    live_vrs: Mapping[str, Any],
    flags: Flags,
) -> None:
    for key, after in want.items():
        vr = rules.attribute_vr(key, spec_vrs.get(key), live_vrs.get(key))
        present = key in have
        op: Op
        before = have.get(key)
        if after is None:
            # An empty element (live ``null``) holds no value: it already satisfies "must be absent",
            # which keeps plan(live, live) empty for documents with empty elements.
            if not present or before is None:
                continue
            op = "remove"
        elif not present:
            op = "add"
        elif rules.values_equal(before, after, vr):
            continue
        else:
            op = "change"
        out.append(_check(op, level, (*path, key), before, after, vr, flags))


def _check(op: Op, level: str, path: Path, before: Any, after: Any, vr: str | None, flags: Flags) -> Change:
    key = path[-1]
    force, primary = flags
    forbidden = rules.forbidden_reason(key, level)
    if forbidden is None and rules.is_private(key) and not vr:
        forbidden = "private attribute needs its VR in the sibling DICOMVRs map"
    if forbidden is not None:
        return Change(op, path, before, after, "forbidden", forbidden, vr=vr)
    refused = rules.primary_reason(key, level) if primary else None
    if refused is not None:
        return Change(op, path, before, after, "refused on primary", refused, force_in_spec=force, vr=vr)
    reason = rules.force_reason(key, before, after, vr)
    if reason is None:
        return Change(op, path, before, after, vr=vr)
    if primary:  # force is for non-primary image sets only (``reconciler.dicom.primary``)
        return Change(op, path, before, after, "refused on primary", f"{reason}, and {rules.FORCE_REASON}",
                      force_in_spec=force, vr=vr)
    return Change(op, path, before, after, "needs force", reason, force_in_spec=force, vr=vr)


def _node_removal(path: Path, level: str, flags: Flags) -> Change:
    """A whole series or instance removed; a primary image set refuses a whole series
    (``reconciler.dicom.primary``)."""
    if flags[1] and level == "Series":
        return Change("remove", path, None, None, "refused on primary", rules.SERIES_REMOVAL_REASON, node=True)
    return Change("remove", path, None, None, node=True)
