"""The values the emulator's store hands out: datastores, image-set versions and new versions.

A version's state is derived, not stored: the latest version is LOCKED (with the workflow status of
what holds the lock: ``UPDATING``, ``COPYING``, ``DELETING``...) until the image set's ``lock_until``
time, so the lock ends by itself with no background thread. A deletion is the same: the image set is
LOCKED/DELETING until its ``deleted_at`` time, DELETED from then on. The storage tier is derived
the same way, from the time since the image set was last accessed.

Times are epoch seconds with millisecond precision (``ms``), as AWS answers them: a value read back
and sent in a ``createdAt BETWEEN [t, t]`` search then finds its image set.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from typing import Any

FREQUENT_ACCESS = "FREQUENT_ACCESS"
ARCHIVE_INSTANT_ACCESS = "ARCHIVE_INSTANT_ACCESS"


def ms(seconds: float) -> float:
    """Epoch seconds rounded to whole milliseconds (AWS timestamps carry milliseconds, not micro).

    Rounded, not truncated: ``t * 1000`` of a value that already is whole milliseconds may land a hair
    below the integer, and flooring would then lose a millisecond.
    """
    return round(seconds * 1000) / 1000


@dataclass(frozen=True)
class DatastoreRow:
    datastore_id: str
    name: str
    status: str
    created_at: float
    updated_at: float


@dataclass(frozen=True)
class VersionRow:
    """The properties of one image-set version as seen at ``now`` (state and status are derived)."""

    datastore_id: str
    image_set_id: str
    version: int
    state: str  # ACTIVE | LOCKED | DELETED
    workflow_status: str
    message: str | None
    forced: bool
    is_primary: bool
    created_at: float
    updated_at: float
    deleted_at: float | None
    latest_version: int
    last_accessed_at: float = 0.0

    def storage_tier(self, now: float, archive_after: float) -> str:
        return storage_tier(self.last_accessed_at, now, archive_after)


def storage_tier(last_accessed_at: float, now: float, archive_after: float) -> str:
    """FREQUENT_ACCESS, or ARCHIVE_INSTANT_ACCESS once not accessed for ``archive_after`` seconds.

    https://docs.aws.amazon.com/healthimaging/latest/devguide/understanding-storage-tiers.html
    """
    return ARCHIVE_INSTANT_ACCESS if now - last_accessed_at >= archive_after else FREQUENT_ACCESS


@dataclass(frozen=True)
class NewVersion:
    """What an update computed from the current document: stored as version N+1."""

    document: dict[str, Any]
    status: str  # UPDATED, COPIED; or UPDATE_FAILED, COPY_FAILED (these keep the previous content)
    message: str | None = None
    forced: bool = False


def version_row(
    image_set: sqlite3.Row, version: sqlite3.Row, now: float, updated_at: float | None = None
) -> VersionRow:
    """Derive the state of one version: the latest one is LOCKED until lock_until, and every one is
    DELETED once the image set's deletion is over (``deleted_at``, reported only from then on)."""
    number = int(version["version"])
    latest = int(image_set["latest_version"])
    deleted_at = image_set["deleted_at"]
    if deleted_at is not None and now < float(deleted_at):
        deleted_at = None  # still DELETING: the lock says so
    locked = number == latest and now < float(image_set["lock_until"])
    if deleted_at is not None:
        state, status, message = "DELETED", "DELETED", None
    elif locked:
        state, status, message = "LOCKED", str(image_set["lock_status"] or "UPDATING"), None
    else:
        state, status, message = "ACTIVE", str(version["status"]), version["message"]
    return VersionRow(
        datastore_id=str(image_set["datastore_id"]),
        image_set_id=str(image_set["image_set_id"]),
        version=number,
        state=state,
        workflow_status=status,
        message=message,
        forced=bool(version["forced"]),
        is_primary=bool(image_set["is_primary"]),
        created_at=float(image_set["created_at"]),
        updated_at=float(version["updated_at"] if updated_at is None else updated_at),
        deleted_at=None if deleted_at is None else float(deleted_at),
        latest_version=latest,
        last_accessed_at=float(image_set["last_accessed_at"] or image_set["updated_at"]),
    )
