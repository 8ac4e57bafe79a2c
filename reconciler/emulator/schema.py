"""The emulator store's SQLite schema, and the additive migration of stores made by older versions.

``image_sets.lock_status`` is the workflow status a LOCKED image set shows (``UPDATING``, or
``UPDATING_FOR_STUDY_CONSISTENCY`` for the siblings of a study-wide update); ``last_accessed_at`` is
the last access that counts for the storage tier (creation, update, metadata read).
"""

from __future__ import annotations

import contextlib
import sqlite3

_SCHEMA = """
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
    last_accessed_at REAL,
    lock_status TEXT NOT NULL DEFAULT 'UPDATING',
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

# Columns added since the first release: (table, column, definition).
_ADDED = (
    ("image_sets", "last_accessed_at", "REAL"),
    ("image_sets", "lock_status", "TEXT NOT NULL DEFAULT 'UPDATING'"),
)


def create_schema(conn: sqlite3.Connection) -> None:
    """Create the tables, and add the newer columns to a store made before they existed."""
    conn.executescript(_SCHEMA)
    for table, column, definition in _ADDED:
        present = {row[1] for row in conn.execute(f"PRAGMA table_info({table})")}
        if column not in present:
            # another process may add it between the check and here
            with contextlib.suppress(sqlite3.OperationalError):
                conn.execute(f"ALTER TABLE {table} ADD COLUMN {column} {definition}")
