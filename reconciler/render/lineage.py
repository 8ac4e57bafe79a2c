"""``history``'s account of replacements: which image set this one replaced, or which replaced it, and when
(text lines after the heading, and JSON keys). IDs, times and run names only: nothing here is patient data."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from reconciler.api import ImageSetInfo
from reconciler.apply.lineage import Lineage, Replaced
from reconciler.render.history import iso

NO_LINK = ("version 1 was made by CopyImageSet; HealthImaging keeps no link to the image set it was copied "
           "from (the CopyImageSet answer names it, and apply journals it: give the apply's --journal to see it)")


def lineage_lines(datastore_id: str, image_set_id: str, lineage: Lineage,
                  versions: Sequence[ImageSetInfo] = ()) -> list[str]:
    """What replaced what, around IMAGE_SET_ID; a note when its first version is a copy of an image set no
    journal names."""
    out: list[str] = []
    for n, r in enumerate(reversed(lineage.replaces)):
        what = "Replaces image set" if n == 0 else "  which replaced image set"
        out.append(f"{what} {r.old_id}: {_made(r)}{_deleted(r)}{_unfinished(r)}")
    for n, r in enumerate(lineage.replaced_by):
        what = "Replaced by image set" if n == 0 else "  which was replaced in turn by image set"
        out.append(f"{what} {r.new_id} at {iso(r.replaced_at) or 'an unrecorded time'}{_run(r)}{_deleted(r)}"
                   f"{_unfinished(r)}")
    if lineage.replaced_by:
        latest = lineage.replaced_by[-1].new_id
        out.append(f"  the image set now: reconciler history --datastore-id {datastore_id} --image-set-id {latest}")
    if not lineage.replaces and versions and (versions[-1].workflow_status or "").startswith("COP"):
        out.append(f"Note: {NO_LINK}.")
    if not versions and not lineage.replaced_by:
        out.append("Note: no apply journal read here names an image set that replaced it (give the apply's "
                   "--journal to look there too).")
    return out


def lineage_json(lineage: Lineage, versions: Sequence[ImageSetInfo] = ()) -> dict[str, Any]:
    """``replaces`` (the image set this one replaced first, then the one before it, ...) and ``replacedBy``
    (the image set that replaced this one first, then ...); ``copiedFromUnknown`` when version 1 is a copy
    whose source no journal names."""
    copied = bool(versions) and (versions[-1].workflow_status or "").startswith("COP")
    return {
        "replaces": [_json(r, r.old_id) for r in reversed(lineage.replaces)],
        "replacedBy": [_json(r, r.new_id) for r in lineage.replaced_by],
        "copiedFromUnknown": copied and not lineage.replaces,
    }


def deleted_lines(datastore_id: str, image_set_id: str, info: ImageSetInfo | None) -> list[str]:
    """The heading of the history of an image set that no longer has versions to list."""
    where = f"Image set {image_set_id} in datastore {datastore_id}"
    if info is None:
        return [f"{where} does not exist (any more): HealthImaging lists no versions of it"]
    at = iso(info.deleted_at)
    return [f"{where} was deleted{f' at {at}' if at else ''} (state {info.state}, last version {info.version_id}); "
            "HealthImaging lists no versions of a deleted image set"]


def _made(r: Replaced) -> str:
    return f"promoted from a copy of it at {iso(r.replaced_at) or 'an unrecorded time'}{_run(r)}"


def _run(r: Replaced) -> str:
    return f" (apply run {r.run})" if r.run else ""


def _deleted(r: Replaced) -> str:
    return f"; {r.old_id} was deleted at {iso(r.deleted_at)}" if r.deleted_at is not None else ""


def _unfinished(r: Replaced) -> str:
    return "" if r.finished else "; the replacement did not finish: run the same apply again to finish it"


def _json(r: Replaced, image_set_id: str) -> dict[str, Any]:
    return {"imageSetId": image_set_id, "replacedAt": iso(r.replaced_at), "deletedAt": iso(r.deleted_at),
            "oldImageSetId": r.old_id, "newImageSetId": r.new_id, "run": r.run, "finished": r.finished}
