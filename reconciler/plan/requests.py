"""Turn a list of changes into the fewest UpdateImageSetMetadata requests the service allows.

One request per image set carries both ``updatableAttributes`` and ``removableAttributes`` as compact
JSON (``{"SchemaVersion":1.1,...}``, the shape of the AWS examples). Only when a request would pass
the 10 KB payload quota (https://docs.aws.amazon.com/general/latest/gr/healthimaging.html) is it split
into several chained requests. ``force`` is set on a request only when one of its changes needs it.
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

PAYLOAD_LIMIT = 10_240  # bytes of blob text per request (updatable + removable), the 10 KB quota
_ROOT: dict[str, Any] = {"SchemaVersion": 1.1}


class PayloadTooLarge(ReconcilerError):
    """One attribute alone does not fit in a request."""


@dataclass(frozen=True)
class _Unit:
    """What one change contributes: entries (path, value) of one blob, kept together when splitting."""

    removable: bool
    entries: tuple[tuple[Path, Any], ...]
    force: bool
    cost: int


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
    cost = len(dumps(_tree(entries))) - len(dumps(_ROOT)) + 1
    return _Unit(removable, entries, force, cost)


def _request(units: Sequence[_Unit]) -> UpdateRequest:
    upd = [e for u in units if not u.removable for e in u.entries]
    rem = [e for u in units if u.removable for e in u.entries]
    return UpdateRequest(
        updatable=dumps(_tree(upd)) if upd else None,
        removable=dumps(_tree(rem)) if rem else None,
        force=any(u.force for u in units),
    )


def request_size(req: UpdateRequest) -> int:
    return len(req.updatable or b"") + len(req.removable or b"")


def build_requests(changes: Sequence[Change], limit: int = PAYLOAD_LIMIT) -> tuple[UpdateRequest, ...]:
    """The requests for one image set's (non-forbidden) changes; empty when nothing changes."""
    units = [_unit(c) for c in changes if c.check != "forbidden"]
    if not units:
        return ()
    whole = _request(units)
    if request_size(whole) <= limit:
        return (whole,)
    return tuple(_split(units, limit))


def _split(units: Sequence[_Unit], limit: int) -> list[UpdateRequest]:
    """Greedy packing by each unit's stand-alone cost, an upper bound of what it adds to a request."""
    base = 2 * len(dumps(_ROOT))  # both blobs may be present
    out: list[UpdateRequest] = []
    batch: list[_Unit] = []
    used = base
    for unit in units:
        if base + unit.cost > limit:
            raise PayloadTooLarge(
                f"the change at {format_path(unit.entries[0][0])} alone exceeds the {limit}-byte payload limit"
            )
        if batch and used + unit.cost > limit:
            out.append(_request(batch))
            batch, used = [], base
        batch.append(unit)
        used += unit.cost
    if batch:
        out.append(_request(batch))
    return out
