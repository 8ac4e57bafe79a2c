"""A forced change of SeriesInstanceUID or SOPInstanceUID moves the series or instance to its new key.

The metadata document keys ``Study.Series`` by SeriesInstanceUID and each series' ``Instances`` by
SOPInstanceUID (https://docs.aws.amazon.com/healthimaging/latest/devguide/update-image-set-metadata.html,
whose forced SOPInstanceUID example addresses the instance by its UID). So when an update sets one of
those UIDs to a new value, the node then lives under the new UID, with its content and its place in the
map kept. Only the nodes the update names move; a new UID that another node of the same map already
has fails the update (the image set would hold two nodes with one UID).
"""

from __future__ import annotations

from typing import Any

from reconciler.padding import unpadded

Tree = dict[str, Any]
SERIES_UID = ("SeriesInstanceUID", "0020000E")
INSTANCE_UID = ("SOPInstanceUID", "00080018")


class RekeyConflict(Exception):
    """The new UID is already the key of another node in the same map."""


def rekey(document: Tree, updatable: Tree) -> None:
    """Move every series/instance whose UID UPDATABLE sets to a new value under that value (in place)."""
    all_series = (document.get("Study") or {}).get("Series") or {}
    for series_uid, series_update in ((updatable.get("Study") or {}).get("Series") or {}).items():
        series = all_series.get(series_uid)
        if not isinstance(series, dict) or not isinstance(series_update, dict):
            continue
        instances = series.get("Instances") or {}
        for instance_uid, instance_update in (series_update.get("Instances") or {}).items():
            new_uid = _new_uid(instance_update, INSTANCE_UID)
            if new_uid and new_uid != instance_uid and instance_uid in instances:
                series["Instances"] = instances = _moved(instances, instance_uid, new_uid, "Instance")
        new_series_uid = _new_uid(series_update, SERIES_UID)
        if new_series_uid and new_series_uid != series_uid:
            document["Study"]["Series"] = all_series = _moved(all_series, series_uid, new_series_uid, "Series")


def _new_uid(node: Any, keys: tuple[str, str]) -> str | None:
    dicom = node.get("DICOM") if isinstance(node, dict) else None
    for key in keys:
        value = (dicom or {}).get(key)
        if unpadded(value):
            return unpadded(value)
    return None


def _moved(nodes: Tree, old: str, new: str, what: str) -> Tree:
    """NODES with the entry OLD renamed to NEW, in the same position."""
    if new in nodes:
        raise RekeyConflict(f"INVALID_REQUEST: {what} {new} is already present in the image set")
    return {(new if key == old else key): value for key, value in nodes.items()}
