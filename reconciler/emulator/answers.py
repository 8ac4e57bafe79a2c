"""Shapes of the emulator's answers built from the store's rows: ``DatastoreProperties``,
``ImageSetProperties`` and timestamps as AWS sends them, and the ``omit_is_primary`` knob
(``reconciler.emulator.knobs``), which leaves the optional ``isPrimary`` out of an answer as the model allows
("Required: No", https://docs.aws.amazon.com/healthimaging/latest/APIReference/API_ImageSetsMetadataSummary.html).
"""

from __future__ import annotations

from typing import Any

from reconciler.emulator.records import VersionRow, ms
from reconciler.emulator.routes import image_set_arn


def flagged(answer: dict[str, Any], omit_is_primary: bool) -> dict[str, Any]:
    """ANSWER (GetImageSet, an ``ImageSetProperties`` or a search summary), without ``isPrimary`` when
    OMIT_IS_PRIMARY."""
    if omit_is_primary:
        answer.pop("isPrimary", None)
    return answer


def datastore(row: Any, region: str) -> dict[str, Any]:
    return {
        "datastoreId": row.datastore_id,
        "datastoreName": row.name,
        "datastoreStatus": row.status,
        "datastoreArn": image_set_arn(row.datastore_id, region=region),
        "createdAt": timestamp(row.created_at),
        "updatedAt": timestamp(row.updated_at),
    }


def properties(row: VersionRow) -> dict[str, Any]:
    """One ``ImageSetProperties`` item (the model spells ``ImageSetWorkflowStatus`` with a capital I)."""
    return {
        "imageSetId": row.image_set_id,
        "versionId": str(row.version),
        "imageSetState": row.state,
        "ImageSetWorkflowStatus": row.workflow_status,
        "createdAt": timestamp(row.created_at),
        "updatedAt": timestamp(row.updated_at),
        "deletedAt": timestamp(row.deleted_at),
        "message": row.message,
        "overrides": {"forced": True} if row.forced else None,
        "isPrimary": row.is_primary,
    }


def timestamp(value: float | None) -> float | None:
    """A timestamp as AWS sends it: epoch seconds with millisecond precision (stores made before this
    version may hold microseconds)."""
    return None if value is None else ms(value)
