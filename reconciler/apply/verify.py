"""Check that an applied plan holds in the live metadata: "converged" is measured, not assumed.

The check re-reads the intent of the plan's own request payloads, so it works for a saved plan with no
specs at hand: every attribute in ``updatableAttributes`` must have that value and every attribute or
node in ``removableAttributes`` must be absent. Values are compared by the planner's own equality,
``dicom.normalize.values_equal`` with the attribute's VR (padding, DS/IS as numbers, PN without
trailing empty components; PS3.5 section 6.2), so verify never disagrees with plan or drift. On top,
the plan's merged desired subtree (kept in the plan and in a saved plan) is re-diffed with the
planner's own diff: the image set must plan to nothing. Both follow a series or instance that a forced
UID change moved to its new key (``reconciler.plan.moves``): it is checked where live now holds it.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from reconciler.dicom.normalize import values_equal
from reconciler.dicom.tree import MISSING, PARTS, Attribute, attributes, get_at, has_at, walk
from reconciler.plan import rules
from reconciler.plan.diff import diff_image_set
from reconciler.plan.model import ImageSetPlan, Path, UpdateRequest
from reconciler.plan.moves import follow, live_paths


def _holds(live: Mapping[str, Any], attr: Attribute, path: Path) -> bool:
    """Whether live has the payload's value of ``attr`` at ``path`` (where live holds it), by the
    planner's equality and VR."""
    current = get_at(live, path)
    if current is MISSING:
        return False
    vr = None
    if attr.part == "DICOM":
        live_vr = get_at(live, (*path[:-2], "DICOMVRs", attr.key), None)
        vr = rules.attribute_vr(attr.key, attr.vr, live_vr)
    return values_equal(current, attr.value, vr)


def _removed(payload: Mapping[str, Any]) -> Iterator[Path]:
    """Paths a removable payload names: its attributes, and whole series or instances (``{}``)."""
    for node in walk(payload):
        if node.level in ("Series", "Instance") and isinstance(node.value, Mapping) and not node.value:
            yield node.path
        yield from (attr.path for attr in attributes(node, PARTS))


def _load(blob: bytes | None) -> Mapping[str, Any]:
    if not blob:
        return {}
    doc = json.loads(blob)
    return doc if isinstance(doc, dict) else {}


def unmet_paths(plan: ImageSetPlan, live: Mapping[str, Any]) -> tuple[Path, ...]:
    """Paths of the plan's requests that do not hold in ``live`` (empty: the image set converged)."""
    return requests_unmet(plan.requests, live)


def requests_unmet(requests: Sequence[UpdateRequest], live: Mapping[str, Any]) -> tuple[Path, ...]:
    """Paths of REQUESTS' payloads that do not hold in ``live`` (e.g. a study-wide request's on a member)."""
    unmet: list[Path] = []
    for request in requests:
        updatable = _load(request.updatable)
        moved = live_paths(updatable, live)
        for node in walk(updatable):
            unmet.extend(a.path for a in attributes(node, PARTS) if not _holds(live, a, follow(a.path, moved)))
        removable = _load(request.removable)
        moved = live_paths(removable, live)
        unmet.extend(path for path in _removed(removable) if has_at(live, follow(path, moved)))
    return tuple(unmet)


def converged_check(plan: ImageSetPlan, live: Mapping[str, Any]) -> tuple[Path, ...]:
    """The executor's default verifier: payload intent, then the planner's diff of the desired subtree."""
    unmet = list(unmet_paths(plan, live))
    if plan.desired:
        unmet.extend(c.path for c in diff_image_set(plan.desired, live, plan.force) if c.path not in unmet)
    return tuple(unmet)
