"""The emulator store's SQLite schema, and the additive migration of stores made by older versions.

``image_sets.lock_status`` is the workflow status a LOCKED image set shows (``UPDATING``, or
``UPDATING_FOR_STUDY_CONSISTENCY`` for the siblings of a study-wide update); ``last_accessed_at`` is
the last access that counts for the storage tier (creation, update, metadata read).

SearchImageSets never reads a document: what it needs of the latest version is kept beside it when the
version is written (``reconciler.emulator.search.searchable``): its equality values in
``search_values``, its study date and time in ``image_sets.study_key`` and its summary tags in
``image_sets.tags``, with indexes for every filter and sort (``reconciler.emulator.search_sql``).
A store made before these existed is indexed once, when it is first opened (``PRAGMA user_version``).
A store already at ``SCHEMA_VERSION`` is opened without any of this (``reconciler.emulator.tables.open_store``).
"""

from __future__ import annotations

import json
import sqlite3
from typing import Any

from reconciler.emulator.search import searchable
from reconciler.emulator.search_sql import INDEXES

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
    study_key TEXT NOT NULL DEFAULT '',
    tags TEXT,
    PRIMARY KEY (datastore_id, image_set_id)
);
CREATE TABLE IF NOT EXISTS client_tokens (  -- CreateDatastore idempotency
    client_token TEXT PRIMARY KEY,
    datastore_id TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS search_values (  -- the equality keys of each image set's latest version
    datastore_id TEXT NOT NULL,
    key TEXT NOT NULL,
    value TEXT NOT NULL,
    image_set_id TEXT NOT NULL,
    PRIMARY KEY (datastore_id, key, value, image_set_id)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS search_values_by_image_set ON search_values (datastore_id, image_set_id);
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

# Columns added since the first release: (table, column, definition), in the order a new store has them too.
_ADDED = (
    ("image_sets", "last_accessed_at", "REAL"),
    ("image_sets", "lock_status", "TEXT NOT NULL DEFAULT 'UPDATING'"),
    ("image_sets", "study_key", "TEXT NOT NULL DEFAULT ''"),
    ("image_sets", "tags", "TEXT"),
)
SEARCH_INDEXED = 1  # PRAGMA user_version once every latest version has its search rows
SCHEMA_VERSION = 2  # PRAGMA user_version once the tables, columns and indexes above are all there (bump on change)


def create_schema(conn: sqlite3.Connection) -> None:
    """Create the tables, add the newer columns to a store made before they existed, index it and set its
    version: one write transaction, so a concurrent opener waits for it and then finds everything there,
    and a new store costs one commit instead of one per statement."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        if schema_version(conn) < SCHEMA_VERSION:  # not done by another process meanwhile
            _create(conn)
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")


def _create(conn: sqlite3.Connection) -> None:
    for statement in _statements(_SCHEMA):
        conn.execute(statement)
    present: dict[str, set[str]] = {}
    for table, column, definition in _ADDED:
        if table not in present:
            present[table] = {row[1] for row in conn.execute(f"PRAGMA table_info({table})")}
        if column not in present[table]:
            conn.execute(f"ALTER TABLE {table} ADD COLUMN {column} {definition}")
    for statement in _statements(INDEXES):
        conn.execute(statement)
    if schema_version(conn) < SEARCH_INDEXED:
        _index_existing(conn)
    conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")


def _statements(script: str) -> list[str]:
    """The SQL statements of SCRIPT, one by one (``executescript`` would commit the open transaction)."""
    out, pending = [], ""
    for piece in script.split(";"):
        pending += piece + ";"
        if sqlite3.complete_statement(pending):
            if pending.strip(" \n;"):
                out.append(pending)
            pending = ""
    return out


def schema_version(conn: sqlite3.Connection) -> int:
    """The store's ``PRAGMA user_version`` (https://www.sqlite.org/pragma.html#pragma_user_version)."""
    return int(conn.execute("PRAGMA user_version").fetchone()[0])


def _index_existing(conn: sqlite3.Connection) -> None:
    """Index the latest version of every image set of a store made before search was indexed."""
    rows = conn.execute(
        "SELECT i.datastore_id, i.image_set_id, v.document FROM image_sets i JOIN versions v"
        " ON v.datastore_id = i.datastore_id AND v.image_set_id = i.image_set_id"
        " AND v.version = i.latest_version").fetchall()
    for ds, image_set_id, document in rows:
        index_document(conn, ds, image_set_id, json.loads(document))


def index_document(conn: sqlite3.Connection, datastore_id: str, image_set_id: str, document: dict[str, Any]) -> None:
    """Keep what a search needs of DOCUMENT, the image set's new latest version (inside the write)."""
    found = searchable(document)
    conn.execute("DELETE FROM search_values WHERE datastore_id = ? AND image_set_id = ?", (datastore_id, image_set_id))
    conn.executemany("INSERT INTO search_values VALUES (?, ?, ?, ?)",
                     [(datastore_id, key, value, image_set_id) for key, value in found.values])
    conn.execute("UPDATE image_sets SET study_key = ?, tags = ? WHERE datastore_id = ? AND image_set_id = ?",
                 (found.study_key, found.tags, datastore_id, image_set_id))
