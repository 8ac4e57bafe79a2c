"""CopyImageSet in the store: one transaction that checks both image sets, builds the copy and locks them.

What the copy-image-set page and the API reference say, and how the rows show it
(https://docs.aws.amazon.com/healthimaging/latest/devguide/copy-image-set.html,
https://docs.aws.amazon.com/healthimaging/latest/APIReference/API_CopyImageSet.html):

- The source and the destination are checked first, both: each must exist and not be LOCKED ("Other
  write operations cannot be performed on a locked image set"), and each ``latestVersionId`` must be its
  latest version. Anything else is a ConflictException and nothing is written.
- The copy is asynchronous. The source stays at its version, LOCKED with ``COPYING_WITH_READ_ONLY_ACCESS``
  (reads go on), then ``COPIED``: the status its latest version keeps, as ListImageSetVersions shows a
  copied source (list-image-set-versions CLI example, version 1 ``COPIED``). The destination is a new
  image set at version 1 (another with the ``first_version`` knob: only the answer gives it), or the
  existing one's next version, LOCKED/``COPYING`` and then ``COPIED`` or ``COPY_FAILED`` with a
  ``message`` (a failed copy still takes the version and keeps the old content).
  Both locks last ``lock_until``; 0 seconds ends them at once.
- ``promoteToPrimary``: "a new primary image set ID will be returned as the destination image set". A
  primary image set holds SOP instances no other primary does ("Imported P10 data that conflicts with
  primary image sets already in the a store will be persisted as non-primary",
  https://docs.aws.amazon.com/healthimaging/latest/devguide/understanding-image-sets.html), so a copy
  whose result is primary (a promotion, or a copy into a primary destination) is refused with a
  ConflictException while another primary image set, one still DELETING included, holds any of the SOP
  instances it copies. What AWS answers then is not documented; 409 is the model's error for "can cause
  an inconsistent state", and the documented order of a replacement (delete the primary, then promote)
  implies the check. Nor is a promotion accepted while another primary image set of the same
  StudyInstanceUID holds other Patient-level metadata (``reconciler.dicom.primary``: data that
  conflicts with a primary image set stays non-primary "until the conflict is resolved"; the knob
  ``lenient_promotion`` lifts it).
- A copy reads the source: it moves it to ``FREQUENT_ACCESS``
  (https://docs.aws.amazon.com/healthimaging/latest/devguide/cost-optimization.html).
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable
from typing import Any

from reconciler.dicom.primary import PROMOTION_REASON, STUDY_PAGE, patient_conflict
from reconciler.emulator import tables
from reconciler.emulator.copies import CopyOutcome, CopyRequest, sop_instances
from reconciler.emulator.errors import ConflictError

Build = Callable[[dict[str, Any], dict[str, Any] | None], CopyOutcome]
SOURCE_STATUS = "COPYING_WITH_READ_ONLY_ACCESS"
DESTINATION_STATUS = "COPYING"


def commit_copy(
    conn: sqlite3.Connection,
    datastore_id: str,
    request: CopyRequest,
    new_id: str | None,
    build: Build,
    *,
    now: float,
    lock_until: float,
    lenient: bool = False,
    first_version: int = 1,
) -> tuple[int, str, int]:
    """Run one copy inside the caller's write transaction; returns (source version, destination ID,
    destination version: FIRST_VERSION for a new image set). Raises before writing anything when a check
    fails."""
    source = _writable(conn, datastore_id, request.source_id, request.source_version, now)
    source_doc = json.loads(tables.version_of(conn, source, None)["document"])
    destination = dest_doc = None
    if request.destination_id is not None:
        assert request.destination_version is not None
        destination = _writable(conn, datastore_id, request.destination_id, request.destination_version, now)
        dest_doc = json.loads(tables.version_of(conn, destination, None)["document"])
    result = build(source_doc, dest_doc)
    primary = request.promote or (destination is not None and bool(destination["is_primary"]))
    if primary and result.new.status == "COPIED":
        _check_primaries(conn, datastore_id, request, result, now, lenient=lenient)
    _lock_source(conn, source, now, lock_until, copied=result.new.status == "COPIED")
    if destination is not None:
        version = int(destination["latest_version"]) + 1
        tables.swap_latest(conn, destination, version, now, lock_until, DESTINATION_STATUS)
        tables.insert_version(conn, datastore_id, request.destination_id or "", version, result.new,
                              float(destination["created_at"]), now)
        return int(source["latest_version"]), str(destination["image_set_id"]), version
    assert new_id is not None
    conn.execute(
        "INSERT INTO image_sets (datastore_id, image_set_id, latest_version, is_primary, created_at, updated_at,"
        " lock_until, deleted_at, last_accessed_at, lock_status) VALUES (?, ?, ?, ?, ?, ?, ?, NULL, ?, ?)",
        (datastore_id, new_id, first_version, int(request.promote), now, now, lock_until, now, DESTINATION_STATUS),
    )
    tables.insert_version(conn, datastore_id, new_id, first_version, result.new, now, now)
    return int(source["latest_version"]), new_id, first_version


def _writable(conn: sqlite3.Connection, datastore_id: str, image_set_id: str, expected: int,
              now: float) -> sqlite3.Row:
    row = tables.require_image_set(conn, datastore_id, image_set_id, live_at=now)
    tables.check_writable(row, now)
    tables.check_version(row, expected)
    return row


def _check_primaries(
    conn: sqlite3.Connection, datastore_id: str, request: CopyRequest, result: CopyOutcome, now: float, *,
    lenient: bool,
) -> None:
    """ConflictError when another primary image set holds one of the copied SOP instances, or (unless
    LENIENT) belongs to the same study and holds other Patient-level metadata."""
    what = "promoted" if request.promote else f"copied into primary image set {request.destination_id}"
    study = tables.study_uid(result.new.document)
    for row, document in tables.primaries(conn, datastore_id, now, exclude=request.destination_id or ""):
        shared = result.copied & sop_instances(document)
        if shared:
            raise ConflictError(
                f"image set {request.source_id} cannot be {what}: primary image set {row['image_set_id']}"
                f" holds {len(shared)} of the same SOP instances"
            )
        if not lenient and study is not None and tables.study_uid(document) == study \
                and patient_conflict(result.new.document, document):
            raise ConflictError(f"image set {request.source_id} cannot be {what}: primary image set "
                                f"{row['image_set_id']}: {PROMOTION_REASON} ({STUDY_PAGE})")


def _lock_source(conn: sqlite3.Connection, source: sqlite3.Row, now: float, lock_until: float,
                 *, copied: bool) -> None:
    """The source keeps its version: LOCKED for reading only while copying, then COPIED."""
    latest = int(source["latest_version"])
    cur = conn.execute(
        "UPDATE image_sets SET lock_until = ?, lock_status = ?, updated_at = ?, last_accessed_at = ?"
        " WHERE datastore_id = ? AND image_set_id = ? AND latest_version = ?",
        (lock_until, SOURCE_STATUS, now, now, source["datastore_id"], source["image_set_id"], latest),
    )
    if cur.rowcount != 1:
        raise ConflictError(f"image set {source['image_set_id']} changed concurrently")
    if copied:
        conn.execute(
            "UPDATE versions SET status = 'COPIED', message = NULL, updated_at = ?"
            " WHERE datastore_id = ? AND image_set_id = ? AND version = ?",
            (now, source["datastore_id"], source["image_set_id"], latest),
        )
