"""Version history of one image set (ListImageSetVersions, every page) as rows for text or JSON."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from typing import Any

from reconciler.api import ImageSetInfo

_COLUMNS = ("VERSION", "STATE", "STATUS", "CREATED", "UPDATED", "FORCED", "MESSAGE")


def iso(epoch: float | None) -> str | None:
    """Epoch seconds as ISO 8601 UTC (``2026-11-22T10:00:00.123Z``)."""
    if epoch is None:
        return None
    return datetime.fromtimestamp(epoch, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def version_json(info: ImageSetInfo) -> dict[str, Any]:
    return {
        "versionId": info.version_id,
        "state": info.state,
        "workflowStatus": info.workflow_status,
        "createdAt": iso(info.created_at),
        "updatedAt": iso(info.updated_at),
        "forced": info.forced,
        "message": info.message,
    }


def history_json(datastore_id: str, image_set_id: str, versions: Iterable[ImageSetInfo]) -> dict[str, Any]:
    rows = [version_json(v) for v in versions]
    return {"datastoreId": datastore_id, "imageSetId": image_set_id, "count": len(rows), "versions": rows}


def history_text(datastore_id: str, image_set_id: str, versions: Sequence[ImageSetInfo]) -> list[str]:
    """A fixed-width table, newest version first."""
    rows = [
        (v.version_id, v.state, v.workflow_status or "-", iso(v.created_at) or "-", iso(v.updated_at) or "-",
         "yes" if v.forced else "no", v.message or "")
        for v in versions
    ]
    widths = [max(len(str(r[i])) for r in [_COLUMNS, *rows]) for i in range(len(_COLUMNS) - 1)]

    def fmt(row: Sequence[str]) -> str:
        cells = [str(c).ljust(w) for c, w in zip(row, widths, strict=False)]
        return "  ".join([*cells, row[-1]]).rstrip()

    plural = "s" if len(rows) != 1 else ""
    head = f"Image set {image_set_id} in datastore {datastore_id}: {len(rows)} version{plural}, newest first"
    return [head, fmt(_COLUMNS), *(fmt(r) for r in rows)]
