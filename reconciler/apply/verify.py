"""Check that an applied plan holds in the live metadata: "converged" is measured, not assumed.

The check re-reads the intent of the plan's own request payloads, so it works for a saved plan with no
specs at hand: every attribute in ``updatableAttributes`` must have that value (after DICOM-style
normalisation: trailing padding, numeric equality of DS/IS strings) and every attribute or node in
``removableAttributes`` must be absent. On top, the plan's merged desired subtree (kept in the plan and
in a saved plan) is re-diffed with the planner's own diff: the image set must plan to nothing.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from typing import Any

from reconciler.plan.diff import diff_image_set
from reconciler.plan.model import ImageSetPlan, Path

_LEAF_PARENTS = ("DICOM", "DICOMVRs")


def _normal(value: Any) -> Any:
    """Comparable form: strings lose trailing padding and compare numerically when both look numeric."""
    if isinstance(value, str):
        s = value.rstrip(" \x00")
        try:
            return float(s) if s.strip() else s
        except ValueError:
            return s
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, list):
        return [_normal(v) for v in value]
    if isinstance(value, dict):
        return {k: _normal(v) for k, v in value.items()}
    return value


def same_value(live: Any, desired: Any) -> bool:
    return bool(_normal(live) == _normal(desired))


def _leaves(tree: Mapping[str, Any], prefix: Path = ()) -> Iterator[tuple[Path, Any]]:
    """Attribute leaves (children of DICOM / DICOMVRs) and empty-object nodes of a payload tree."""
    for key, value in tree.items():
        if not prefix and key == "SchemaVersion":
            continue
        path = (*prefix, key)
        if prefix and prefix[-1] in _LEAF_PARENTS:
            yield path, value
        elif isinstance(value, dict) and value:
            yield from _leaves(value, path)
        else:
            yield path, value


def _lookup(doc: Mapping[str, Any], path: Path) -> tuple[bool, Any]:
    node: Any = doc
    for key in path:
        if not isinstance(node, Mapping) or key not in node:
            return False, None
        node = node[key]
    return True, node


def _load(blob: bytes | None) -> Mapping[str, Any]:
    if not blob:
        return {}
    doc = json.loads(blob)
    return doc if isinstance(doc, dict) else {}


def unmet_paths(plan: ImageSetPlan, live: Mapping[str, Any]) -> tuple[Path, ...]:
    """Paths of the plan's requests that do not hold in ``live`` (empty: the image set converged)."""
    unmet: list[Path] = []
    for request in plan.requests:
        for path, value in _leaves(_load(request.updatable)):
            present, current = _lookup(live, path)
            if not present or not same_value(current, value):
                unmet.append(path)
        for path, _ in _leaves(_load(request.removable)):
            if _lookup(live, path)[0]:
                unmet.append(path)
    return tuple(unmet)


def converged_check(plan: ImageSetPlan, live: Mapping[str, Any]) -> tuple[Path, ...]:
    """The executor's default verifier: payload intent, then the planner's diff of the desired subtree."""
    unmet = list(unmet_paths(plan, live))
    if plan.desired:
        unmet.extend(c.path for c in diff_image_set(plan.desired, live, plan.force) if c.path not in unmet)
    return tuple(unmet)
