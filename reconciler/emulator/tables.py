"""The emulator store's SQLite file: connections and transactions, and the row-level steps every store
operation shares (look-ups that raise NotFoundError, the lock check, the compare-and-swap of the latest
version, the insert of a version row, the study siblings of an image set). The schema itself is
``reconciler.emulator.schema``.
"""

from __future__ import annotations

import json
import os
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from reconciler.emulator.errors import ConflictError, NotFoundError
from reconciler.emulator.records import NewVersion
from reconciler.emulator.schema import SCHEMA_VERSION, create_schema, index_document, schema_version
from reconciler.padding import unpadded

DB_NAME = "emulator.sqlite3"
BUSY_TIMEOUT_MS = 30_000


def study_uid(document: dict[str, Any]) -> str | None:
    """The StudyInstanceUID of a metadata document, without DICOM's trailing padding (None if absent)."""
    value = (document.get("Study") or {}).get("DICOM", {}).get("StudyInstanceUID")
    return unpadded(value)


def open_store(path: Path) -> sqlite3.Connection:
    """A connection to the database at PATH, after creating its tables (WAL mode: readers never block) or
    migrating an older store; a store already at ``SCHEMA_VERSION`` is only opened.

    The store keeps this connection open for as long as it lives: while one stays open, closing the other
    connections does not checkpoint and delete the WAL file each time
    (https://www.sqlite.org/wal.html#the_wal_file), which would cost a few fsyncs per request.
    """
    conn = connect(path)
    try:
        if schema_version(conn) < SCHEMA_VERSION:  # WAL mode is persistent: set once with the schema
            conn.execute("PRAGMA journal_mode=WAL")
            create_schema(conn)
        conn.execute("SELECT count(*) FROM sqlite_master").fetchone()  # opens the WAL
    except BaseException:
        conn.close()
        raise
    return conn


def connect(path: Path) -> sqlite3.Connection:
    # check_same_thread=False only lets the last reference be dropped from any thread: each connection is
    # used by the one thread that ``Connections`` gave it to.
    conn = sqlite3.connect(path, timeout=BUSY_TIMEOUT_MS / 1000, isolation_level=None, check_same_thread=False)
    conn.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
    # WAL with synchronous=NORMAL: a commit is atomic and seen by every other connection at once, and
    # survives the process being killed; only a power cut may lose the last commits
    # (https://www.sqlite.org/pragma.html#pragma_synchronous). An emulator needs no more, and a metadata
    # read's access-time write then costs no fsync.
    conn.execute("PRAGMA synchronous=NORMAL")
    conn.row_factory = sqlite3.Row
    return conn


_INHERITED: list[sqlite3.Connection] = []
"""Connections a forked child found in its parent's stores: kept, never used nor closed in the child
(https://www.sqlite.org/howtocorrupt.html#_carrying_an_open_database_connection_across_a_fork_)."""


class Connections:
    """A store's connections: one per thread of the process that opened it, kept between transactions.

    A connection is never shared by two threads (https://docs.python.org/3/library/sqlite3.html#sqlite3.threadsafety)
    nor used across a fork: a forked child opens its own. Each thread's connection is closed when the thread
    ends or the store is dropped.
    """

    def __init__(self, path: Path, first: sqlite3.Connection) -> None:
        self.path = path
        self._keeper = first  # open as long as the store: see open_store
        self._local = threading.local()
        self._local.conn, self._local.pid = first, os.getpid()

    def current(self) -> sqlite3.Connection:
        """This thread's connection, opened on its first use."""
        local, pid = self._local, os.getpid()
        conn: sqlite3.Connection | None = getattr(local, "conn", None)
        if conn is not None and local.pid == pid:
            return conn
        if conn is not None:
            _INHERITED.append(conn)
        conn = connect(self.path)
        local.conn, local.pid = conn, pid
        return conn

    def discard(self, conn: sqlite3.Connection) -> None:
        """Close CONN, left in a transaction by a failed COMMIT or ROLLBACK; the thread opens a fresh one."""
        if getattr(self._local, "conn", None) is conn:
            self._local.conn = None
        conn.close()


@contextmanager
def transaction(connections: Connections, write: bool) -> Iterator[sqlite3.Connection]:
    """One transaction; ``write`` takes the write lock up front so the read-check-write is atomic.

    It runs on the thread's kept connection; one opened inside another transaction of the same thread gets
    a connection of its own, as it would have from a separate process.
    """
    conn = connections.current()
    nested = conn.in_transaction
    if nested:
        conn = connect(connections.path)
    try:
        conn.execute("BEGIN IMMEDIATE" if write else "BEGIN")
        try:
            yield conn
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")
    finally:
        if nested:
            conn.close()
        elif conn.in_transaction:
            connections.discard(conn)


def require_datastore(conn: sqlite3.Connection, datastore_id: str) -> None:
    if conn.execute("SELECT 1 FROM datastores WHERE datastore_id = ?", (datastore_id,)).fetchone() is None:
        raise NotFoundError(f"datastore {datastore_id} does not exist")


def image_set_row(conn: sqlite3.Connection, datastore_id: str, image_set_id: str) -> sqlite3.Row | None:
    row: sqlite3.Row | None = conn.execute(
        "SELECT * FROM image_sets WHERE datastore_id = ? AND image_set_id = ?", (datastore_id, image_set_id)
    ).fetchone()
    return row


def require_image_set(
    conn: sqlite3.Connection, datastore_id: str, image_set_id: str, live_at: float | None = None
) -> sqlite3.Row:
    """The image set's row; NotFoundError when there is none, or (with ``live_at``) when its deletion
    was over by that time. An image set still DELETING is there: LOCKED, but readable."""
    require_datastore(conn, datastore_id)
    row = image_set_row(conn, datastore_id, image_set_id)
    if row is None or (live_at is not None and is_deleted(row, live_at)):
        raise NotFoundError(f"image set {image_set_id} does not exist in datastore {datastore_id}")
    return row


def is_deleted(row: sqlite3.Row, now: float) -> bool:
    """Whether the image set in ROW was DELETED by NOW (a deletion ends at ``deleted_at``)."""
    return row["deleted_at"] is not None and now >= float(row["deleted_at"])


LIVE = "(i.deleted_at IS NULL OR i.deleted_at > ?)"
"""SQL: image set ``i`` is not DELETED at the time bound to the ``?``."""


def version_of(conn: sqlite3.Connection, row: sqlite3.Row, version: int | None) -> sqlite3.Row:
    """The versions row of VERSION (default: the latest) of the image set in ROW."""
    wanted = int(row["latest_version"]) if version is None else version
    vrow: sqlite3.Row | None = conn.execute(
        "SELECT * FROM versions WHERE datastore_id = ? AND image_set_id = ? AND version = ?",
        (row["datastore_id"], row["image_set_id"], wanted),
    ).fetchone()
    if vrow is None:
        raise NotFoundError(f"image set {row['image_set_id']} has no version {wanted}")
    return vrow


def check_writable(row: sqlite3.Row, now: float) -> None:
    """ConflictError while the image set is LOCKED: "Other write operations cannot be performed on a
    locked image set" (https://docs.aws.amazon.com/healthimaging/latest/devguide/copy-image-set.html)."""
    if now < float(row["lock_until"]):
        raise ConflictError(f"image set {row['image_set_id']} is LOCKED ({row['lock_status']} in progress)")


def check_version(row: sqlite3.Row, expected: int) -> None:
    """The version guard: ConflictError when the image set's latest version is not EXPECTED."""
    latest = int(row["latest_version"])
    if latest != expected:
        raise ConflictError(
            f"image set {row['image_set_id']}: latestVersionId {expected} is not the latest version ({latest})"
        )


def swap_latest(
    conn: sqlite3.Connection, row: sqlite3.Row, version: int, now: float, lock_until: float,
    lock_status: str = "UPDATING",
) -> None:
    """Compare-and-swap the latest version; zero rows updated means someone else won the race.

    A write is an access for the storage tier, so it also sets ``last_accessed_at``.
    """
    cur = conn.execute(
        "UPDATE image_sets SET latest_version = ?, updated_at = ?, lock_until = ?, lock_status = ?,"
        " last_accessed_at = ? WHERE datastore_id = ? AND image_set_id = ? AND latest_version = ?",
        (version, now, lock_until, lock_status, now, row["datastore_id"], row["image_set_id"], version - 1),
    )
    if cur.rowcount != 1:
        raise ConflictError(f"image set {row['image_set_id']} changed concurrently")


def as_stored(datastore_id: str, image_set_id: str, document: dict[str, Any]) -> dict[str, Any]:
    """DOCUMENT as the service stores it: with its own IDs, and ``SchemaVersion`` "1.1" when missing."""
    return {"SchemaVersion": "1.1", **document, "DatastoreID": datastore_id, "ImageSetID": image_set_id}


def insert_new(conn: sqlite3.Connection, datastore_id: str, image_set_id: str, document: dict[str, Any],
               is_primary: bool, created_at: float, accessed_at: float) -> int:
    """A new image set at version 1 (IntegrityError if it exists); returns 1, the number stored."""
    conn.execute(
        "INSERT INTO image_sets (datastore_id, image_set_id, latest_version, is_primary, created_at,"
        " updated_at, lock_until, deleted_at, last_accessed_at) VALUES (?, ?, 1, ?, ?, ?, 0, NULL, ?)",
        (datastore_id, image_set_id, int(is_primary), created_at, created_at, accessed_at),
    )
    insert_version(conn, datastore_id, image_set_id, 1, NewVersion(document, "CREATED"), created_at, created_at)
    return 1


def insert_version(
    conn: sqlite3.Connection, datastore_id: str, image_set_id: str, version: int, new: NewVersion,
    created_at: float, updated_at: float,
) -> None:
    """Insert the row of VERSION, the image set's new latest version, and index it for search."""
    conn.execute(
        "INSERT INTO versions VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (datastore_id, image_set_id, version, json.dumps(new.document, separators=(",", ":")),
         new.status, new.message, int(new.forced), created_at, updated_at),
    )
    index_document(conn, datastore_id, image_set_id, new.document)


def study_siblings(
    conn: sqlite3.Connection, row: sqlite3.Row, study: str | None, now: float
) -> list[tuple[sqlite3.Row, dict[str, Any]]]:
    """The other live primary image sets of ROW's datastore whose latest document is of STUDY."""
    if not study:
        return []
    return [(r, doc) for r, doc in primaries(conn, str(row["datastore_id"]), now, str(row["image_set_id"]))
            if study_uid(doc) == study]


def primaries(
    conn: sqlite3.Connection, datastore_id: str, now: float, exclude: str = ""
) -> list[tuple[sqlite3.Row, dict[str, Any]]]:
    """Every primary image set of the datastore not DELETED by NOW (one still DELETING included), with
    its latest document; EXCLUDE names one to leave out."""
    rows = conn.execute(
        "SELECT i.*, v.document FROM image_sets i JOIN versions v ON v.datastore_id = i.datastore_id"
        " AND v.image_set_id = i.image_set_id AND v.version = i.latest_version"
        f" WHERE i.datastore_id = ? AND i.image_set_id != ? AND {LIVE} AND i.is_primary = 1"
        " ORDER BY i.image_set_id",
        (datastore_id, exclude, now),
    ).fetchall()
    return [(r, json.loads(r["document"])) for r in rows]
