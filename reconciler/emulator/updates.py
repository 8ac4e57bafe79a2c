"""UpdateImageSetMetadata: payload decoding, quotas, merge/removal semantics and the async outcome.

Semantics (https://docs.aws.amazon.com/healthimaging/latest/devguide/update-image-set-metadata.html):
``updatableAttributes`` is an attribute-level upsert into the
addressed level's ``DICOM`` object (siblings untouched), ``DICOMVRs`` merged; ``removableAttributes``
removes the named attributes, and ``{}`` for a series or instance removes that node. When one request
carries both, removals are applied first and upserts second (the order is undocumented; this way a
request that removes and sets the same attribute leaves the new value, the natural reading of "replace").
Removing an attribute that is not there changes nothing; a removal's value is not compared with the
stored one (undocumented either way; the reconciler always sends the current value).

Size limits: each blob, decoded, is at most ``blob_limit`` bytes (default 10,000: "Length Constraints:
Minimum length of 1. Maximum length of 10000." for both members of ``DICOMUpdates``,
https://docs.aws.amazon.com/healthimaging/latest/APIReference/API_DICOMUpdates.html; the botocore model
says 30,000, the API reference and the adjustable service quota of 10 KB say less). Over the limit is a
400 ValidationException in the words AWS uses for a length constraint. The limit is per blob, not
summed over both, and can be raised (``EmulatorConfig.blob_limit``) to match a raised quota. The JSON
that botocore and the reconciler send is ASCII (``json.dumps`` escapes the rest), so bytes are characters.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Callable
from typing import Any

from reconciler.dicom.constraints import is_generated
from reconciler.dicom.tree import PARTS, Node, attributes, delete_at, get_at, mapping_at, walk
from reconciler.emulator.constraints import check_request
from reconciler.emulator.errors import ValidationError
from reconciler.emulator.knobs import BLOB_LIMIT
from reconciler.emulator.rekey import RekeyConflict, rekey
from reconciler.emulator.store import NewVersion

MEMBERS = ("updatableAttributes", "removableAttributes")
Tree = dict[str, Any]


class UpdateFailed(Exception):
    """Raised while applying an accepted update: the version ends UPDATE_FAILED with this message."""


def parse_dicom_updates(
    value: Any, *, force: bool, blob_limit: int = BLOB_LIMIT
) -> tuple[Tree | None, Tree | None]:
    """Decode, size-check, parse and request-check ``DICOMUpdates``; returns (updatable, removable)."""
    if not isinstance(value, dict) or not value or set(value) - set(MEMBERS):
        raise ValidationError("DICOMUpdates must hold updatableAttributes and/or removableAttributes")
    raw = {member: _decode_blob(value[member], member, blob_limit) for member in MEMBERS if member in value}
    trees = {member: _parse_tree(blob, member) for member, blob in raw.items()}
    for member, tree in trees.items():
        check_request(tree, member, force=force, removal=member == "removableAttributes")
    return trees.get("updatableAttributes"), trees.get("removableAttributes")


def _decode_blob(value: Any, member: str, limit: int) -> bytes:
    if not isinstance(value, str):
        raise ValidationError(f"{member} must be a base64-encoded blob")
    try:
        blob = base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise ValidationError(f"{member} is not valid base64") from None
    if not blob:
        raise ValidationError(f"1 validation error detected: Value at 'updateImageSetMetadataUpdates.DICOMUpdates."
                              f"{member}' failed to satisfy constraint: Member must have length greater than or"
                              " equal to 1")
    if len(blob) > limit:
        raise ValidationError(f"1 validation error detected: Value at 'updateImageSetMetadataUpdates.DICOMUpdates."
                              f"{member}' failed to satisfy constraint: Member must have length less than or"
                              f" equal to {limit}")
    return blob


def _parse_tree(blob: bytes, member: str) -> Tree:
    try:
        tree = json.loads(blob)
    except (ValueError, UnicodeDecodeError, RecursionError):  # RecursionError: hostile nesting
        raise ValidationError(f"{member} is not a JSON document") from None
    if not isinstance(tree, dict):
        raise ValidationError(f"{member} must be a JSON object")
    if tree.get("SchemaVersion") not in (1.1, "1.1"):
        raise ValidationError(f"{member}: SchemaVersion must be 1.1")
    _check_shape(tree, member)
    return tree


def _check_shape(tree: Tree, member: str) -> None:
    """The payload is a partial metadata tree; anything else is a 400 naming the offending path."""
    _keys(tree, {"SchemaVersion", "Patient", "Study"}, member)
    _keys(tree.get("Patient", {}), {"DICOM"}, f"{member} Patient")
    study = tree.get("Study", {})
    _keys(study, {"DICOM", "Series"}, f"{member} Study")
    for suid, series in _mapping(study.get("Series", {}), f"{member} Study.Series").items():
        spath = f"{member} Study.Series.{suid}"
        _keys(series, {"DICOM", "Instances"}, spath)
        for iuid, inst in _mapping(series.get("Instances", {}), f"{spath}.Instances").items():
            ipath = f"{spath}.Instances.{iuid}"
            _keys(inst, {"DICOM", "DICOMVRs"}, ipath)
            vrs = _mapping(inst.get("DICOMVRs", {}), f"{ipath}.DICOMVRs")
            if not all(isinstance(v, str) and len(v) == 2 and v.isupper() for v in vrs.values()):
                raise ValidationError(f"{ipath}.DICOMVRs: values must be two-letter VRs")


def _keys(node: Any, allowed: set[str], where: str) -> None:
    node = _mapping(node, where)
    for key, value in node.items():
        if key not in allowed:
            generated = is_generated(key)
            what = "HealthImaging-generated attributes cannot be updated" if generated else "unexpected key"
            raise ValidationError(f"{where}.{key}: {what}")
        if key == "DICOM":
            _mapping(value, f"{where}.DICOM")


def _mapping(node: Any, where: str) -> dict[str, Any]:
    if not isinstance(node, dict):
        raise ValidationError(f"{where} must be a JSON object")
    return node


# -- applying an accepted update (document-dependent: failures end UPDATE_FAILED) -------------------


def apply_updates(document: Tree, updatable: Tree | None, removable: Tree | None) -> Tree:
    """The document after the update; UpdateFailed when it names a series/instance that is not there.

    DOCUMENT itself is left as it was (a failed update stores it unchanged). Instead of a deep copy of it,
    the new document is built copy-on-write: each mapping on the way to one the update changes is copied
    (shallow) before that change, and everything else is shared with DOCUMENT, which nobody changes after.
    """
    new = _Draft(document)
    if removable:
        _remove(new, removable)
    if updatable:
        _upsert(new, updatable)
        for series_uid in ((updatable.get("Study") or {}).get("Series") or {}):  # what rekey may change
            new.own(("Study", "Series", series_uid))
        try:
            rekey(new.doc, updatable)  # a forced Series/SOPInstanceUID change moves the node to its new key
        except RekeyConflict as conflict:
            raise UpdateFailed(str(conflict)) from None
    return new.doc


class _Draft:
    """The new document while an update is applied to it: a shallow copy of the original whose mappings
    become copies of their own (``own``) before they are changed."""

    def __init__(self, original: Tree) -> None:
        self.doc: Tree = dict(original)
        self._copies = {id(self.doc)}

    def own(self, path: tuple[str, ...]) -> None:
        """Make every mapping along PATH (as far as there are mappings) a copy that only ``doc`` holds."""
        node = self.doc
        for key in path:
            child = node.get(key)
            if not isinstance(child, dict):
                return  # absent or not a mapping: the change creates it, or fails, as on any document
            if id(child) not in self._copies:
                child = node[key] = dict(child)
                self._copies.add(id(child))
            node = child


def _remove(draft: _Draft, rem: Tree) -> None:
    doc = draft.doc
    for node in walk(rem):
        if node.level in ("Series", "Instance"):
            _existing(doc, node)
            if not node.value:  # {} removes the whole series or instance
                draft.own(node.path[:-1])
                delete_at(doc, node.path)
                continue
        parts = _parts(node.level)
        for attr in attributes(node, parts):
            for part in parts:
                held = get_at(doc, (*node.path, part), None)
                if isinstance(held, dict) and attr.key in held:
                    draft.own((*node.path, part))
                    get_at(doc, (*node.path, part)).pop(attr.key, None)


def _upsert(draft: _Draft, upd: Tree) -> None:
    doc = draft.doc
    for node in walk(upd):
        if node.level in ("Series", "Instance"):
            _existing(doc, node)
        for part in _parts(node.level):
            values = node.part(part)
            if values:
                draft.own((*node.path, part))
                mapping_at(doc, (*node.path, part)).update(values)


def _parts(level: str) -> tuple[str, ...]:
    """What an update addresses at a level: DICOMVRs only at the Instance level (the payload shape)."""
    return PARTS if level == "Instance" else ("DICOM",)


def _existing(doc: Tree, node: Node) -> None:
    """Rule 9: updates cannot create series or instances ("associated module is not present")."""
    if not isinstance(get_at(doc, node.path, None), dict):
        raise UpdateFailed(f"INVALID_REQUEST: {node.level} {node.path[-1]} is not present in the image set")


def outcome(
    updatable: Tree | None, removable: Tree | None, *, force: bool, injected_failure: bool
) -> Callable[[Tree], NewVersion]:
    """The store callback that turns the current document into the new version (or a failed one)."""

    def build(current: Tree) -> NewVersion:
        if injected_failure:
            return NewVersion(current, "UPDATE_FAILED", "INTERNAL_FAILURE: injected update_failed fault", force)
        try:
            return NewVersion(apply_updates(current, updatable, removable), "UPDATED", None, force)
        except UpdateFailed as failed:
            return NewVersion(current, "UPDATE_FAILED", str(failed)[:2048], force)

    return build
