"""The emulator store's SQLite file: its schema, connections and transactions, and the row-level steps
every store operation shares (look-ups that raise NotFoundError, the lock check, the compare-and-swap of
the latest version, the insert of a version row).
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from reconciler.emulator.errors import ConflictError, NotFoundError
from reconciler.emulator.records import NewVersion

DB_NAME = "emulator.sqlite3"
BUSY_TIMEOUT_MS = 30_000

SCHEMA = """
CREATE TABLE IF NOT EXISTS datastores (
    datastore_id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    status TEXT NOT NULL,
    created_at REAL NOT NULL,
    updated_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS image_sets (
    datastore_id TEXT NOT NULL REFERENCES datastores(datastore_id),
    image_set_id TEXT NOT NULL,
    latest_version INTEGER NOT NULL,
    is_primary INTEGER NOT NULL,
    created_at REAL NOT NULL,
    updated_at REAL NOT NULL,
    lock_until REAL NOT NULL DEFAULT 0,
    deleted_at REAL,
    PRIMARY KEY (datastore_id, image_set_id)
);
CREATE TABLE IF NOT EXISTS client_tokens (  -- CreateDatastore idempotency
    client_token TEXT PRIMARY KEY,
    datastore_id TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS versions (
    datastore_id TEXT NOT NULL,
    image_set_id TEXT NOT NULL,
    version INTEGER NOT NULL,
    document TEXT NOT NULL,
    status TEXT NOT NULL,       -- workflow status once the lock is over: CREATED, UPDATED, UPDATE_FAILED
    message TEXT,
    forced INTEGER NOT NULL DEFAULT 0,
    created_at REAL NOT NULL,
    updated_at REAL NOT NULL,
    PRIMARY KEY (datastore_id, image_set_id, version)
);
"""


def create(path: Path) -> None:
    """Create the tables in the database at PATH unless they exist (WAL mode: readers never block)."""
    conn = connect(path)
    try:
        conn.execute("PRAGMA journal_mode=WAL")
        conn.executescript(SCHEMA)
    finally:
        conn.close()


def connect(path: Path) -> sqlite3.Connection:
    conn = sqlite3.connect(path, timeout=BUSY_TIMEOUT_MS / 1000, isolation_level=None)
    conn.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
    conn.row_factory = sqlite3.Row
    return conn


@contextmanager
def transaction(path: Path, write: bool) -> Iterator[sqlite3.Connection]:
    """One transaction; ``write`` takes the write lock up front so the read-check-write is atomic."""
    conn = connect(path)
    try:
        conn.execute("BEGIN IMMEDIATE" if write else "BEGIN")
        try:
            yield conn
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")
    finally:
        conn.close()


def require_datastore(conn: sqlite3.Connection, datastore_id: str) -> None:
    if conn.execute("SELECT 1 FROM datastores WHERE datastore_id = ?", (datastore_id,)).fetchone() is None:
        raise NotFoundError(f"datastore {datastore_id} does not exist")


def image_set_row(conn: sqlite3.Connection, datastore_id: str, image_set_id: str) -> sqlite3.Row | None:
    row: sqlite3.Row | None = conn.execute(
        "SELECT * FROM image_sets WHERE datastore_id = ? AND image_set_id = ?", (datastore_id, image_set_id)
    ).fetchone()
    return row


def require_image_set(
    conn: sqlite3.Connection, datastore_id: str, image_set_id: str, live: bool = False
) -> sqlite3.Row:
    require_datastore(conn, datastore_id)
    row = image_set_row(conn, datastore_id, image_set_id)
    if row is None or (live and row["deleted_at"] is not None):
        raise NotFoundError(f"image set {image_set_id} does not exist in datastore {datastore_id}")
    return row


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
    if now < float(row["lock_until"]):
        raise ConflictError(f"image set {row['image_set_id']} is LOCKED by an update in progress")


def swap_latest(conn: sqlite3.Connection, row: sqlite3.Row, version: int, now: float, lock_until: float) -> None:
    """Compare-and-swap the latest version; zero rows updated means someone else won the race."""
    cur = conn.execute(
        "UPDATE image_sets SET latest_version = ?, updated_at = ?, lock_until = ?"
        " WHERE datastore_id = ? AND image_set_id = ? AND latest_version = ?",
        (version, now, lock_until, row["datastore_id"], row["image_set_id"], version - 1),
    )
    if cur.rowcount != 1:
        raise ConflictError(f"image set {row['image_set_id']} changed concurrently")


def insert_version(
    conn: sqlite3.Connection, datastore_id: str, image_set_id: str, version: int, new: NewVersion,
    created_at: float, updated_at: float,
) -> None:
    conn.execute(
        "INSERT INTO versions VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (datastore_id, image_set_id, version, json.dumps(new.document, separators=(",", ":")),
         new.status, new.message, int(new.forced), created_at, updated_at),
    )
