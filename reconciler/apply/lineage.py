"""Which image set a replacement made of which, and when, read back from the apply journals (``history``).

A replacement deletes a primary image set and promotes a copy of it under a new ID
(https://docs.aws.amazon.com/healthimaging/latest/devguide/update-image-set-metadata.html). HealthImaging
keeps no link between the two in what it answers later: ``GetImageSet`` and ``ListImageSetVersions`` of the
new image set show a version made by a copy (``COPIED``) but not from what; the source is named only in the
``CopyImageSet`` answer and in the image set's ``Copied`` event
(https://docs.aws.amazon.com/healthimaging/latest/devguide/event-notifications.html). Apply journals the
answers step by step (``reconciler.apply.replace``): per original image set ``primary_deleted`` (when the
deletion was answered), ``promote_submitted``/``promoted`` with ``newId``, and ``converged`` with
``replacedBy``. This module folds those records (as ``reconciler.apply.ledger`` reads them) into
``Replaced`` values, and follows them both ways from one image set.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Replaced:
    """OLD_ID was replaced by NEW_ID: the old one deleted at DELETED_AT, the new one made at REPLACED_AT (the
    record of the promotion's answer), by apply run RUN. FINISHED: the run recorded the replacement converged
    (False: the promotion was answered, but a later step did not finish; re-running apply finishes it)."""

    datastore_id: str
    old_id: str
    new_id: str
    replaced_at: float | None
    deleted_at: float | None
    run: str | None
    finished: bool


@dataclass(frozen=True)
class Lineage:
    """The replacements before one image set (oldest first: ``replaces[-1].new_id`` is the image set) and
    after it (``replaced_by[0].old_id`` is the image set)."""

    replaces: tuple[Replaced, ...] = ()
    replaced_by: tuple[Replaced, ...] = ()


def replacements(records: Iterable[Mapping[str, Any]]) -> list[Replaced]:
    """Every replacement the records show promoted, in the order of their records' times."""
    state: dict[tuple[str, str], dict[str, Any]] = {}
    for r in sorted(records, key=lambda r: float(r.get("ts", 0.0))):
        key = (str(r.get("datastoreId")), str(r.get("imageSetId")))
        event, ts = r.get("event"), r.get("ts")
        if event == "replace_abandoned":  # the copy was deleted again; the original stays
            state.pop(key, None)
            continue
        fields = state.setdefault(key, {})
        if event == "primary_deleted":
            fields["deleted_at"] = ts
        elif event in ("promote_submitted", "promoted") and r.get("newId"):
            fields["new_id"], fields["run"] = str(r["newId"]), r.get("run")
            fields.setdefault("replaced_at", ts)
        elif event in ("promote_failed", "rollback_deleted"):  # (a group's promoted copy deleted again)
            for name in ("new_id", "replaced_at"):
                fields.pop(name, None)
        elif event == "restored" and r.get("newId"):  # a group restored: the pristine copy promoted back
            fields["new_id"], fields["run"], fields["finished"] = str(r["newId"]), r.get("run"), True
            fields["replaced_at"] = ts
        elif event == "converged" and r.get("replacedBy"):
            fields["new_id"], fields["finished"] = str(r["replacedBy"]), True
            fields.setdefault("replaced_at", ts)
            fields.setdefault("run", r.get("run"))
    return [Replaced(ds, old, f["new_id"], f.get("replaced_at"), f.get("deleted_at"), f.get("run"),
                     bool(f.get("finished")))
            for (ds, old), f in state.items() if f.get("new_id")]


def lineage(found: Sequence[Replaced], datastore_id: str, image_set_id: str) -> Lineage:
    """The chain of replacements through IMAGE_SET_ID, each way (a cycle, which IDs never make, stops it)."""
    by_old = {r.old_id: r for r in found if r.datastore_id == datastore_id}
    by_new = {r.new_id: r for r in found if r.datastore_id == datastore_id}
    before: list[Replaced] = []
    after: list[Replaced] = []
    seen = {image_set_id}
    current = image_set_id
    while current in by_new and by_new[current].old_id not in seen:
        before.insert(0, by_new[current])
        current = by_new[current].old_id
        seen.add(current)
    current, seen = image_set_id, {image_set_id}
    while current in by_old and by_old[current].new_id not in seen:
        after.append(by_old[current])
        current = by_old[current].new_id
        seen.add(current)
    return Lineage(tuple(before), tuple(after))
