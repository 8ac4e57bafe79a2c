"""CopyImageSet: the request (body, ``copiableAttributes``) and what a copy does to the documents.

Semantics, from the copy-image-set page
(https://docs.aws.amazon.com/healthimaging/latest/devguide/copy-image-set.html) and the API reference
(https://docs.aws.amazon.com/healthimaging/latest/APIReference/API_CopyImageSet.html):

- "You can copy into a *new* image set to split an image set, as well as to create a separate copy. You
  can also copy into an *existing* image set to merge two image sets together." Without
  ``destinationImageSet`` the copy is a new image set (a new ID, version 1); with one, a new version of
  the destination that holds its own series and instances plus the copied ones.
- ``copiableAttributes`` is "The JSON string used to specify a subset of SOP Instances to copy", shaped
  like CLI Example 3: ``{"SchemaVersion": "1.1", "Study": {"Series": {S: {"Instances": {I: {}}}}}}``.
  A series named with no instances is copied whole (the emulator's reading; undocumented).
- "CopyImageSet requires SOP Instance UIDs be unique within an image set": an instance copied into a
  destination that holds the same SOP Instance UID in another series fails the copy; in the same series
  the copied instance replaces the destination's.
- "The CopyImageSet action requires sourceImageSet and destinationImageSet to have consistent metadata,
  unless the optional force parameter is supplied ... In these cases, the Patient, Study, and Series
  metadata remains unchanged in the destinationImageSet." Consistent here means equal as DICOM values
  (trailing padding aside, ``reconciler.dicom.normalize``) at the Patient and Study levels and for every
  copied series the destination already has. Without ``force`` an inconsistent copy ends ``COPY_FAILED``
  with a message in the words of AWS's own example ("INVALID_REQUEST:  Series of SourceImageSet and
  DestinationImageSet don't match.", list-image-set-versions CLI example), after the 200, as an update
  that names a missing series ends ``UPDATE_FAILED``; so does a ``copiableAttributes`` naming a series or
  instance the source does not hold. The request's own shape is checked before anything is accepted
  (400 ValidationException).

Messages name levels, series and instance UIDs (the keys of the document), never attribute values.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from reconciler.dicom.normalize import dicom_equal
from reconciler.dicom.tree import copy_tree
from reconciler.emulator.errors import ValidationError
from reconciler.emulator.records import NewVersion
from reconciler.emulator.routes import Call, require_id, version_param

Tree = dict[str, Any]
Subset = dict[str, frozenset[str] | None]  # series UID -> SOP instance UIDs (None: the whole series)
# CopiableAttributes: "Length Constraints: Minimum length of 1. Maximum length of 260000."
# (https://docs.aws.amazon.com/healthimaging/latest/APIReference/API_MetadataCopies.html)
COPIABLE_LIMIT = 260_000


class CopyFailed(Exception):
    """Raised while computing an accepted copy: the destination ends COPY_FAILED with this message."""


@dataclass(frozen=True)
class CopyRequest:
    """One CopyImageSet request, checked."""

    source_id: str
    source_version: int
    destination_id: str | None
    destination_version: int | None
    subset: Subset | None  # None: every series and instance
    force: bool
    promote: bool


def parse_request(call: Call, source_id: str, *, force: bool, promote: bool) -> CopyRequest:
    """The request from the body (``copyImageSetInformation`` is the payload); a 400 for any bad shape."""
    body = call.json_body()
    if set(body) - {"sourceImageSet", "destinationImageSet"}:
        raise ValidationError("copyImageSetInformation may only hold sourceImageSet and destinationImageSet")
    source = body.get("sourceImageSet")
    if not isinstance(source, dict) or set(source) - {"latestVersionId", "DICOMCopies"}:
        raise ValidationError("copyImageSetInformation.sourceImageSet must hold latestVersionId (and DICOMCopies)")
    source_version = _version(source.get("latestVersionId"), "sourceImageSet.latestVersionId")
    subset = None
    if "DICOMCopies" in source:
        copies = source["DICOMCopies"]
        if not isinstance(copies, dict) or set(copies) != {"copiableAttributes"}:
            raise ValidationError("sourceImageSet.DICOMCopies must hold copiableAttributes")
        subset = parse_copiable(copies["copiableAttributes"])
    destination_id = destination_version = None
    if "destinationImageSet" in body:
        dest = body["destinationImageSet"]
        if not isinstance(dest, dict) or set(dest) != {"imageSetId", "latestVersionId"}:
            raise ValidationError("copyImageSetInformation.destinationImageSet must hold imageSetId and "
                                  "latestVersionId")
        if not isinstance(dest["imageSetId"], str):
            raise ValidationError("destinationImageSet.imageSetId must match [0-9a-z]{32}")
        destination_id = require_id(dest["imageSetId"], "destinationImageSet.imageSetId")
        destination_version = _version(dest["latestVersionId"], "destinationImageSet.latestVersionId")
        if destination_id == source_id:
            raise ValidationError(f"image set {source_id} cannot be copied into itself")
        if promote:
            # "If successful, a new primary image set ID will be returned as the destination image set"
            # (promoteToPrimary, API reference): a promotion always makes a new image set.
            raise ValidationError("promoteToPrimary copies into a new primary image set: destinationImageSet "
                                  "cannot be given with it")
    return CopyRequest(source_id, source_version, destination_id, destination_version, subset, force, promote)


def _version(value: Any, name: str) -> int:
    number = version_param(value if isinstance(value, str) else "", name)
    assert number is not None  # version_param("") raises
    return number


def parse_copiable(text: Any) -> Subset:
    """``copiableAttributes`` (a JSON string) as series -> instances; a 400 naming the bad part."""
    where = "DICOMCopies.copiableAttributes"
    if not isinstance(text, str) or not text:
        raise ValidationError(f"{where} must be a non-empty JSON string")
    if len(text) > COPIABLE_LIMIT:
        raise ValidationError(f"1 validation error detected: Value at 'copyImageSetInformation.sourceImageSet."
                              f"{where}' failed to satisfy constraint: Member must have length less than or "
                              f"equal to {COPIABLE_LIMIT}")
    try:
        tree = json.loads(text)
    except (ValueError, RecursionError):
        raise ValidationError(f"{where} is not a JSON document") from None
    if not isinstance(tree, dict) or set(tree) - {"SchemaVersion", "Study"}:
        raise ValidationError(f"{where} must be a JSON object of SchemaVersion and Study")
    if tree.get("SchemaVersion") not in (1.1, "1.1"):
        raise ValidationError(f"{where}: SchemaVersion must be 1.1")
    study = tree.get("Study")
    if not isinstance(study, dict) or set(study) != {"Series"} or not isinstance(study["Series"], dict) \
            or not study["Series"]:
        raise ValidationError(f"{where}: Study must name at least one series under Series")
    subset: Subset = {}
    for series_uid, series in study["Series"].items():
        path = f"{where}: Study.Series.{series_uid[:80]}"  # a key is the client's text: never echo much of it
        if not isinstance(series, dict) or set(series) - {"Instances"}:
            raise ValidationError(f"{path} may only hold Instances")
        instances = series.get("Instances", {})
        if not isinstance(instances, dict) or any(v != {} for v in instances.values()):
            raise ValidationError(f"{path}.Instances must map SOP Instance UIDs to {{}}")
        subset[series_uid] = frozenset(instances) or None
    return subset


# -- the documents (after the 200: failures end COPY_FAILED) ---------------------------------------


@dataclass(frozen=True)
class CopyOutcome:
    """What an accepted copy makes: the destination's new version, and the SOP instances it copied."""

    new: NewVersion  # COPIED, or COPY_FAILED keeping the destination's previous content
    copied: frozenset[str]  # empty when the copy fails


def outcome(
    request: CopyRequest, datastore_id: str, new_id: str | None, *, injected_failure: bool
) -> Callable[[Tree, Tree | None], CopyOutcome]:
    """The store callback: (source document, destination document or None for a new one) -> outcome."""

    def build(source: Tree, destination: Tree | None) -> CopyOutcome:
        before = destination if destination is not None else empty(source, datastore_id, new_id or "")
        if injected_failure:
            message = "INTERNAL_FAILURE: injected copy_failed fault"
            return CopyOutcome(NewVersion(before, "COPY_FAILED", message, request.force), frozenset())
        try:
            selected = select(source, request.subset)
            if destination is None:
                document = as_new(selected, datastore_id, new_id or "")
            else:
                document = merge(destination, selected, force=request.force)
        except CopyFailed as failed:
            return CopyOutcome(NewVersion(before, "COPY_FAILED", str(failed)[:2048], request.force), frozenset())
        return CopyOutcome(NewVersion(document, "COPIED", None, request.force), frozenset(sop_instances(selected)))

    return build


def empty(source: Tree, datastore_id: str, image_set_id: str) -> Tree:
    """What a new image set holds when the copy that made it failed: no patient, study or series."""
    return {"SchemaVersion": source.get("SchemaVersion", "1.1"), "DatastoreID": datastore_id,
            "ImageSetID": image_set_id, "Patient": {"DICOM": {}}, "Study": {"DICOM": {}, "Series": {}}}


def select(source: Tree, subset: Subset | None) -> Tree:
    """The part of the SOURCE document a copy takes: everything, or the series and instances of SUBSET."""
    taken = copy_tree(source)
    if subset is None:
        return taken
    held = _series(taken)
    chosen: Tree = {}
    for series_uid, instance_uids in subset.items():
        series = held.get(series_uid)
        if not isinstance(series, dict):
            raise CopyFailed(f"INVALID_REQUEST: Series {series_uid[:80]} is not present in the SourceImageSet")
        if instance_uids is not None:
            instances = series.get("Instances") or {}
            missing = sorted(uid for uid in instance_uids if uid not in instances)
            if missing:
                raise CopyFailed(f"INVALID_REQUEST: SOP Instance {missing[0][:80]} is not present in the "
                                 "SourceImageSet")
            series["Instances"] = {uid: inst for uid, inst in instances.items() if uid in instance_uids}
        chosen[series_uid] = series
    taken.setdefault("Study", {})["Series"] = chosen
    return taken


def as_new(selected: Tree, datastore_id: str, image_set_id: str) -> Tree:
    """The document of a new image set made by a copy: the selected content under the new IDs."""
    return {**selected, "DatastoreID": datastore_id, "ImageSetID": image_set_id}


def merge(destination: Tree, selected: Tree, *, force: bool) -> Tree:
    """The destination's new document: its own content plus the copied series and instances."""
    dest_series = _series(destination)
    if not force:
        for level, mine, theirs in _levels(destination, selected, dest_series):
            if not dicom_equal(mine, theirs):
                raise CopyFailed(f"INVALID_REQUEST: {level} of SourceImageSet and DestinationImageSet don't match.")
    merged = copy_tree(destination)
    series_map = merged.setdefault("Study", {}).setdefault("Series", {})
    owner = {inst: s for s, series in series_map.items() for inst in _instances(series)}
    for series_uid, series in _series(selected).items():
        for instance_uid in _instances(series):
            if owner.get(instance_uid, series_uid) != series_uid:
                raise CopyFailed(f"INVALID_REQUEST: SOP Instance {instance_uid} is already present in another "
                                 "series of the DestinationImageSet; SOP Instance UIDs must be unique")
        target = series_map.get(series_uid)
        if not isinstance(target, dict):
            series_map[series_uid] = copy_tree(series)  # a new series comes with its own metadata
            continue
        target.setdefault("Instances", {}).update(copy_tree(_instances(series)))
    return merged


def sop_instances(document: Tree) -> set[str]:
    """Every SOP Instance UID a document holds."""
    return {uid for series in _series(document).values() for uid in _instances(series)}


def _levels(destination: Tree, selected: Tree, dest_series: Tree) -> Iterator[tuple[str, Tree, Tree]]:
    """(level name, destination DICOM, source DICOM) for every level that must be consistent."""
    for level in ("Patient", "Study"):
        yield level, _dicom(destination.get(level)), _dicom(selected.get(level))
    for series_uid, series in _series(selected).items():
        if isinstance(dest_series.get(series_uid), dict):
            yield f"Series {series_uid}", _dicom(dest_series[series_uid]), _dicom(series)


def _dicom(node: Any) -> Tree:
    value = node.get("DICOM") if isinstance(node, dict) else None
    return value if isinstance(value, dict) else {}


def _series(document: Tree) -> Tree:
    study = document.get("Study")
    series = study.get("Series") if isinstance(study, dict) else None
    return series if isinstance(series, dict) else {}


def _instances(series: Any) -> Tree:
    instances = series.get("Instances") if isinstance(series, dict) else None
    return instances if isinstance(instances, dict) else {}
