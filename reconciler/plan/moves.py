"""Series and instances that live holds under a new UID: following a re-keyed node, like terraform's ``moved``.

The metadata document keys ``Study.Series`` by SeriesInstanceUID and each series' ``Instances`` by
SOPInstanceUID, so a forced update that sets a new UID moves the node to that key (the forced
SOPInstanceUID example of https://docs.aws.amazon.com/healthimaging/latest/devguide/update-image-set-metadata.html
addresses the instance by its UID). A spec written before the change still names the node by its old
UID and sets the new one; once applied, live holds the node under the new UID only. The planner and
the verifier then compare the spec's node with the node at its new key, instead of reporting it missing.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from reconciler.dicom import tree
from reconciler.padding import unpadded
from reconciler.plan.model import Path

UID_KEYS = {"Series": ("SeriesInstanceUID", "0020000E"), "Instance": ("SOPInstanceUID", "00080018")}
"""The attribute a series or instance is keyed by, as keyword and as tag."""


def new_uid(level: str, node: Any) -> str | None:
    """The UID a spec (or payload) node sets for itself, DICOM padding stripped; None when it sets none."""
    dicom = node.get("DICOM") if isinstance(node, Mapping) else None
    if not isinstance(dicom, Mapping):
        return None
    for key in UID_KEYS.get(level, ()):
        value = dicom.get(key)
        if unpadded(value):
            return unpadded(value)
    return None


def locate(live: Mapping[str, Any], parent: Path, container: str, key: str, level: str, node: Any) -> Path:
    """Where live holds the node the spec names KEY under PARENT (a live path): at KEY when it is there,
    else at the new UID the node sets, when live has a node there; else at KEY (absent)."""
    here = (*parent, container, key)
    if isinstance(tree.get_at(live, here, None), Mapping):
        return here
    uid = new_uid(level, node)
    if uid and uid != key and isinstance(tree.get_at(live, (*parent, container, uid), None), Mapping):
        return (*parent, container, uid)
    return here


def live_paths(spec: Mapping[str, Any], live: Mapping[str, Any]) -> dict[Path, Path]:
    """For each series and instance node of SPEC (a desired tree or an update payload) whose live path
    differs from its own: that live path (a moved node, or a node under a moved series)."""
    found: dict[Path, Path] = {}
    for node in tree.walk(spec):
        if node.level not in UID_KEYS:
            continue
        parent = node.path[:-2]
        where = locate(live, found.get(parent, parent), node.path[-2], node.path[-1], node.level, node.value)
        if where != node.path:
            found[node.path] = where
    return found


def follow(path: Path, moved: Mapping[Path, Path]) -> Path:
    """PATH with its longest moved node prefix replaced by where live holds that node."""
    for end in range(len(path), 0, -1):
        target = moved.get(path[:end])
        if target is not None:
            return (*target, *path[end:])
    return path
