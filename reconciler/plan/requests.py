"""Turn a list of changes into the fewest UpdateImageSetMetadata requests the service allows.

One request per image set carries both ``updatableAttributes`` and ``removableAttributes`` as compact
JSON (``{"SchemaVersion":1.1,...}``, the shape of the AWS examples). Each of the two blobs may hold at
most ``BLOB_LIMIT`` bytes: "Length Constraints: Minimum length of 1. Maximum length of 10000." for
both members of ``DICOMUpdates``
(https://docs.aws.amazon.com/healthimaging/latest/APIReference/API_DICOMUpdates.html), behind an
adjustable 10 KB service quota (https://docs.aws.amazon.com/general/latest/gr/healthimaging.html), so
the limit is configurable (``--blob-limit``, ``RECONCILER_BLOB_LIMIT``) for an account whose quota was
raised. Bytes of UTF-8 are counted, never fewer than characters, so the limit holds however the service
counts. Only when a blob would pass the limit are the changes split into several chained requests; one
change alone too large for a blob is a plan error. ``force`` is set on a request only when one of its
changes needs it; ``study`` (``includeStudyImageSets``) is the caller's, for the whole batch.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from reconciler.dicom.tree import set_at
from reconciler.errors import ReconcilerError
from reconciler.plan import rules
from reconciler.plan.diff import format_path
from reconciler.plan.model import Change, Path, UpdateRequest

BLOB_LIMIT = 10_000  # bytes per blob (updatableAttributes, removableAttributes), each on its own
NOT_SENT = frozenset({"forbidden", "refused on primary"})  # checks whose changes never go into a request
_ROOT: dict[str, Any] = {"SchemaVersion": 1.1}


class PayloadTooLarge(ReconcilerError):
    """One attribute alone does not fit in a blob."""


@dataclass(frozen=True)
class _Unit:
    """What one change contributes: entries (path, value) of one blob, kept together when splitting."""

    removable: bool
    entries: tuple[tuple[Path, Any], ...]
    force: bool
    cost: int  # an upper bound of the bytes it adds to a blob that already holds other entries


def dumps(tree: Any) -> bytes:
    """Compact JSON, UTF-8, as the service examples send it."""
    return json.dumps(tree, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def _tree(entries: Iterable[tuple[Path, Any]]) -> dict[str, Any]:
    root: dict[str, Any] = dict(_ROOT)
    for path, value in entries:
        set_at(root, path, value)
    return root


def _unit(change: Change) -> _Unit:
    force = change.check == "needs force"
    if change.op == "remove":
        entries: tuple[tuple[Path, Any], ...] = ((change.path, {} if change.node else change.before),)
        removable = True
    else:
        entries = ((change.path, change.after),)
        key = change.path[-1]
        if change.op == "add" and rules.is_private(key) and change.vr:
            # a new private tag carries its VR, as in the AWS "add a private element" example
            entries += (((*change.path[:-2], "DICOMVRs", key), change.vr),)
        removable = False
    # Alone, the entries add ``,"Study":{...}`` to the root; merged into a tree that shares part of the
    # path they add less (only the keys that are new), so this bounds what they add to any blob.
    cost = len(dumps(_tree(entries))) - len(dumps(_ROOT))
    return _Unit(removable, entries, force, cost)


def _request(units: Sequence[_Unit], study: bool) -> UpdateRequest:
    upd = [e for u in units if not u.removable for e in u.entries]
    rem = [e for u in units if u.removable for e in u.entries]
    return UpdateRequest(
        updatable=dumps(_tree(upd)) if upd else None,
        removable=dumps(_tree(rem)) if rem else None,
        force=any(u.force for u in units),
        study=study,
    )


def largest_blob(req: UpdateRequest) -> int:
    """The size in bytes of the larger of the request's two blobs."""
    return max(len(req.updatable or b""), len(req.removable or b""))


def build_requests(
    changes: Sequence[Change], limit: int = BLOB_LIMIT, *, study: bool = False
) -> tuple[UpdateRequest, ...]:
    """The requests for one image set's changes (those in ``NOT_SENT`` left out); empty when nothing
    changes. No blob of them is over LIMIT bytes; PayloadTooLarge when one change alone would be."""
    units = [_unit(c) for c in changes if c.check not in NOT_SENT]
    if not units:
        return ()
    whole = _request(units, study)
    if largest_blob(whole) <= limit:
        return (whole,)
    updates = _pack([u for u in units if not u.removable], limit, "updatableAttributes")
    removals = _pack([u for u in units if u.removable], limit, "removableAttributes")
    # request i carries the i-th batch of each blob: removals and upserts never meet on one path
    out = tuple(_request([*(updates[i] if i < len(updates) else ()), *(removals[i] if i < len(removals) else ())],
                         study)
                for i in range(max(len(updates), len(removals))))
    over = [r for r in out if largest_blob(r) > limit]
    if over:  # cannot happen while each unit's cost bounds what it adds; never send a request that is over
        raise PayloadTooLarge(f"internal error: a split request has a blob over the {limit}-byte limit")
    return out


def _pack(units: Sequence[_Unit], limit: int, blob: str) -> list[list[_Unit]]:
    """Greedy packing of one blob's units, in plan order, by each unit's cost."""
    base = len(dumps(_ROOT))
    out: list[list[_Unit]] = []
    batch: list[_Unit] = []
    used = base
    for unit in units:
        if base + unit.cost > limit:
            raise PayloadTooLarge(
                f"the change at {format_path(unit.entries[0][0])} alone makes {blob} larger than the "
                f"{limit}-byte limit of one blob; it cannot be sent (raise --blob-limit only if the account's "
                "UpdateImageSetMetadata payload quota was raised)"
            )
        if batch and used + unit.cost > limit:
            out.append(batch)
            batch, used = [], base
        batch.append(unit)
        used += unit.cost
    if batch:
        out.append(batch)
    return out
