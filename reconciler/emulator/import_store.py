"""Where an imported study goes: a new primary image set, a new version of it, or a non-primary one.

"Imported P10 data that conflicts with primary image sets already in the store will be persisted as
non-primary." (https://docs.aws.amazon.com/healthimaging/latest/devguide/understanding-image-sets.html).
An import job "always create[s] new image sets or increment[s] the version of existing image sets"
(same page). So, for one study of an import:

- nothing at the study's image set ID yet: a new image set, primary unless asked otherwise;
- the same content again: nothing is written ("unchanged");
- an instance (SOPInstanceUID) the primary image set already holds, with other content (its own
  attributes, or those of its series, study or patient): a conflict, stored as a non-primary image set
  whose ID is derived from the study and the content, so importing the same files again finds it;
- otherwise (new series or instances, nothing contradicting): a new version of the image set with the
  new series and instances added to what it holds.
"""

from __future__ import annotations

import hashlib
import json
import time
from typing import Any

from reconciler.dicom.tree import copy_tree
from reconciler.emulator.errors import NotFoundError
from reconciler.emulator.store import Store, study_uid

Doc = dict[str, Any]


def store_study(store: Store, datastore_id: str, image_set_id: str, doc: Doc, *, primary: bool = True
                ) -> dict[str, Any]:
    """Store one imported study (see the module docstring); a summary of what happened."""
    current = _current(store, datastore_id, image_set_id)
    if current is None:
        version = store.put_image_set(datastore_id, image_set_id, doc, is_primary=primary)
        return _summary(image_set_id, version, "created", primary)
    current_doc, current_primary = current
    if content(current_doc) == content(doc):
        return _summary(image_set_id, _latest(store, datastore_id, image_set_id), "unchanged", current_primary)
    if current_primary and conflicts(current_doc, doc):
        other = non_primary_id(datastore_id, doc)
        existing = _current(store, datastore_id, other)
        if existing is not None and content(existing[0]) == content(doc):
            return _summary(other, _latest(store, datastore_id, other), "unchanged", existing[1])
        version = store.put_image_set(datastore_id, other, doc, is_primary=False, replace=existing is not None)
        return _summary(other, version, "created" if existing is None else "updated", False)
    merged = merge(current_doc, doc)
    if content(merged) == content(current_doc):
        return _summary(image_set_id, _latest(store, datastore_id, image_set_id), "unchanged", current_primary)
    version = store.put_image_set(datastore_id, image_set_id, merged, replace=True)
    return _summary(image_set_id, version, "updated", current_primary)


def conflicts(current: Doc, new: Doc) -> bool:
    """True when NEW holds an instance CURRENT holds too, with different content at any level."""
    held = {iuid: (suid, inst) for suid, series in _series(current).items()
            for iuid, inst in (series.get("Instances") or {}).items()}
    for suid, series in _series(new).items():
        for iuid, inst in (series.get("Instances") or {}).items():
            if iuid not in held:
                continue
            held_suid, held_inst = held[iuid]
            if (held_suid != suid or held_inst != inst
                    or _series(current)[held_suid].get("DICOM") != series.get("DICOM")
                    or current.get("Patient") != new.get("Patient")
                    or (current.get("Study") or {}).get("DICOM") != (new.get("Study") or {}).get("DICOM")):
                return True
    return False


def merge(current: Doc, new: Doc) -> Doc:
    """CURRENT with the series and instances of NEW that it does not hold added (nothing replaced)."""
    merged = copy_tree(current)
    target = merged.setdefault("Study", {}).setdefault("Series", {})
    for suid, series in _series(new).items():
        if suid not in target:
            target[suid] = copy_tree(series)
            continue
        instances = target[suid].setdefault("Instances", {})
        for iuid, inst in (series.get("Instances") or {}).items():
            instances.setdefault(iuid, copy_tree(inst))
    return merged


def non_primary_id(datastore_id: str, doc: Doc) -> str:
    """The deterministic ID of the non-primary image set holding DOC's content."""
    digest = hashlib.sha256(json.dumps(content(doc), sort_keys=True).encode()).hexdigest()
    return hashlib.md5(f"{datastore_id}|{study_uid(doc)}|non-primary|{digest}".encode()).hexdigest()


def content(doc: Doc) -> Doc:
    """A document without the keys the service stamps on it."""
    return {k: v for k, v in doc.items() if k not in ("DatastoreID", "ImageSetID", "SchemaVersion")}


def _series(doc: Doc) -> dict[str, Any]:
    series: dict[str, Any] = (doc.get("Study") or {}).get("Series") or {}
    return series


def _current(store: Store, datastore_id: str, image_set_id: str) -> tuple[Doc, bool] | None:
    try:
        doc = store.get_document(datastore_id, image_set_id)
    except NotFoundError:
        return None
    return doc, store.get_version(datastore_id, image_set_id, now=time.time()).is_primary


def _latest(store: Store, datastore_id: str, image_set_id: str) -> int:
    return store.get_version(datastore_id, image_set_id, now=time.time()).latest_version


def _summary(image_set_id: str, version: int, status: str, primary: bool) -> dict[str, Any]:
    return {"imageSetId": image_set_id, "versionId": str(version), "status": status, "isPrimary": primary}
