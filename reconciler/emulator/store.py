"""The emulator's SQLite store: datastores, image sets and every version of every metadata document.

One file, ``DIR/emulator.sqlite3``, in WAL mode so readers never block the writer. Every write is one
``BEGIN IMMEDIATE`` transaction that re-reads the image set's latest version and only then inserts
version N+1 (a compare-and-swap on ``latest_version`` plus a primary key on the version row), so two
processes on one store can neither lose an update nor hand out one version twice.

The connections, transactions and row-level steps shared by the operations are in
``reconciler.emulator.tables``, the schema in ``reconciler.emulator.schema``.
The store keeps no clock of its own: callers pass ``now`` (epoch seconds), which lets the service's
lazy lock ("LOCKED until lock_until") be computed on read and tested without sleeping.
"""

from __future__ import annotations

import json
import sqlite3
import time
import uuid
from collections.abc import Callable, Iterable
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any

from reconciler.emulator import search_sql, tables
from reconciler.emulator.copies import CopyRequest
from reconciler.emulator.copy_store import Build, commit_copy
from reconciler.emulator.errors import ConflictError, NotFoundError
from reconciler.emulator.records import DatastoreRow, NewVersion, VersionRow, ms, version_row
from reconciler.emulator.search import Query
from reconciler.emulator.search_sql import Hit
from reconciler.emulator.tables import DB_NAME, study_uid

Seed = tuple[str, dict[str, Any], float, float]  # Store.put_many: ID, document, created at, last accessed at
__all__ = ["DatastoreRow", "NewVersion", "Store", "VersionRow", "has_store", "study_uid"]


def has_store(directory: str | Path) -> bool:
    """Whether DIRECTORY holds an emulator store (its database file); never creates anything."""
    return (Path(directory) / DB_NAME).is_file()


class Store:
    """SQLite-backed state of one emulator. Cheap to construct; safe to share across threads/processes."""

    def __init__(self, directory: str | Path) -> None:
        """Open the store in DIRECTORY, creating the directory and an empty store when there is none.

        Only callers that create data may rely on that; the CLI checks ``has_store`` first elsewhere.
        """
        self.directory = Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True)
        self.path = self.directory / DB_NAME
        self._connections = tables.Connections(self.path, tables.open_store(self.path))

    def _tx(self, write: bool) -> AbstractContextManager[sqlite3.Connection]:
        return tables.transaction(self._connections, write)

    # -- datastores ----------------------------------------------------------------------------------

    def create_datastore(self, name: str, now: float | None = None, client_token: str | None = None) -> str:
        """Create a datastore with a fresh 32-character ID and return the ID.

        A repeated CLIENT_TOKEN returns the datastore it created (the API's idempotency token).
        """
        ts = ms(time.time() if now is None else now)
        datastore_id = uuid.uuid4().hex
        with self._tx(write=True) as conn:
            if client_token is not None:
                row = conn.execute(
                    "SELECT datastore_id FROM client_tokens WHERE client_token = ?", (client_token,)
                ).fetchone()
                if row is not None:
                    return str(row["datastore_id"])
                conn.execute("INSERT INTO client_tokens VALUES (?, ?)", (client_token, datastore_id))
            conn.execute(
                "INSERT INTO datastores VALUES (?, ?, 'ACTIVE', ?, ?)",
                (datastore_id, name or f"datastore-{datastore_id[:8]}", ts, ts),
            )
        return datastore_id

    def ensure_datastore(self, datastore_id: str, name: str | None = None, now: float | None = None) -> None:
        """Create the datastore with this ID unless it exists (then nothing changes)."""
        ts = ms(time.time() if now is None else now)
        with self._tx(write=True) as conn:
            conn.execute(
                "INSERT OR IGNORE INTO datastores VALUES (?, ?, 'ACTIVE', ?, ?)",
                (datastore_id, name or f"datastore-{datastore_id[:8]}", ts, ts),
            )

    def get_datastore(self, datastore_id: str) -> DatastoreRow:
        with self._tx(write=False) as conn:
            row = conn.execute("SELECT * FROM datastores WHERE datastore_id = ?", (datastore_id,)).fetchone()
        if row is None:
            raise NotFoundError(f"datastore {datastore_id} does not exist")
        return DatastoreRow(**dict(row))

    def list_datastores(self) -> list[DatastoreRow]:
        with self._tx(write=False) as conn:
            rows = conn.execute("SELECT * FROM datastores ORDER BY created_at, datastore_id").fetchall()
        return [DatastoreRow(**dict(r)) for r in rows]

    # -- image sets ----------------------------------------------------------------------------------

    def put_image_set(self, datastore_id: str, image_set_id: str, document: dict[str, Any], *,
                      is_primary: bool = True, replace: bool = False, now: float | None = None) -> int:
        """Store DOCUMENT as version 1 of a new image set and return the version (1).

        The stored copy carries this image set's ``DatastoreID``/``ImageSetID`` (and ``SchemaVersion``
        "1.1" when missing), as the service would. An existing image set is a ConflictError unless
        ``replace``: then the document becomes a new version (what a re-import does) and that is returned.
        """
        ts = ms(time.time() if now is None else now)
        doc = tables.as_stored(datastore_id, image_set_id, document)
        with self._tx(write=True) as conn:
            tables.require_datastore(conn, datastore_id)
            row = tables.image_set_row(conn, datastore_id, image_set_id)
            if row is None:
                tables.insert_new(conn, datastore_id, image_set_id, doc, is_primary, ts, ts)
                return 1
            if not replace:
                raise ConflictError(f"image set {image_set_id} already exists in datastore {datastore_id}")
            tables.check_writable(row, ts)
            version = int(row["latest_version"]) + 1
            tables.swap_latest(conn, row, version, ts, lock_until=0.0)
            tables.insert_version(conn, datastore_id, image_set_id, version, NewVersion(doc, "IMPORTED"),
                                 float(row["created_at"]), ts)
            return version

    def put_many(self, datastore_id: str, items: Iterable[Seed], *, is_primary: bool = True) -> int:
        """New image sets in one transaction, to seed a large store fast: each (image set ID, document,
        created at, last accessed at), stored as ``put_image_set`` would. Returns the count."""
        with self._tx(write=True) as conn:
            tables.require_datastore(conn, datastore_id)
            return sum(tables.insert_new(conn, datastore_id, i, tables.as_stored(datastore_id, i, doc), is_primary,
                                         ms(created), ms(accessed)) for i, doc, created, accessed in items)

    def get_version(
        self, datastore_id: str, image_set_id: str, version: int | None = None, *, now: float
    ) -> VersionRow:
        """Properties of VERSION (default: the latest), with state and status as of ``now``."""
        with self._tx(write=False) as conn:
            row = tables.require_image_set(conn, datastore_id, image_set_id)
            vrow = tables.version_of(conn, row, version)
        return version_row(row, vrow, now)

    def get_document(
        self, datastore_id: str, image_set_id: str, version: int | None = None, *, touch: float | None = None,
        now: float | None = None,
    ) -> dict[str, Any]:
        """The metadata document of VERSION (default: the latest) of an image set not DELETED by ``now``
        (default: ``touch``, else the present time).

        ``touch`` (a time) records a read that counts as access for the storage tier (GetImageSetMetadata).
        """
        at = now if now is not None else touch if touch is not None else time.time()
        with self._tx(write=False) as conn:
            row = tables.require_image_set(conn, datastore_id, image_set_id, live_at=at)
            vrow = tables.version_of(conn, row, version)
        if touch is not None:  # a short write of its own: readers never wait for one another
            with self._tx(write=True) as conn:
                conn.execute(
                    "UPDATE image_sets SET last_accessed_at = max(coalesce(last_accessed_at, 0), ?)"
                    " WHERE datastore_id = ? AND image_set_id = ?",
                    (ms(touch), datastore_id, image_set_id),
                )
        doc: dict[str, Any] = json.loads(vrow["document"])
        return doc

    def list_versions(self, datastore_id: str, image_set_id: str, *, now: float) -> list[VersionRow]:
        """Every version of an image set not DELETED by ``now``, newest first."""
        with self._tx(write=False) as conn:
            row = tables.require_image_set(conn, datastore_id, image_set_id, live_at=now)
            vrows = conn.execute(
                "SELECT * FROM versions WHERE datastore_id = ? AND image_set_id = ? ORDER BY version DESC",
                (datastore_id, image_set_id),
            ).fetchall()
        return [version_row(row, v, now) for v in vrows]

    def latest_documents(self, datastore_id: str, *, now: float) -> list[tuple[VersionRow, dict[str, Any]]]:
        """The latest version and document of every image set of a datastore not DELETED by ``now`` (for
        search; one still DELETING is found, LOCKED)."""
        with self._tx(write=False) as conn:
            tables.require_datastore(conn, datastore_id)
            rows = conn.execute(
                "SELECT i.*, v.document, v.status, v.message, v.forced, v.version,"
                " v.updated_at AS v_updated_at FROM image_sets i JOIN versions v"
                " ON v.datastore_id = i.datastore_id AND v.image_set_id = i.image_set_id"
                " AND v.version = i.latest_version"
                f" WHERE i.datastore_id = ? AND {tables.LIVE}",
                (datastore_id, now),
            ).fetchall()
        out = []
        for r in rows:
            out.append((version_row(r, r, now, r["v_updated_at"]), json.loads(r["document"])))
        return out

    def search_page(self, datastore_id: str, query: Query, after: tuple[Any, str] | None, limit: int, *,
                    now: float) -> list[Hit]:
        """Up to LIMIT image sets matching QUERY (not DELETED by NOW), in order, after the row AFTER."""
        with self._tx(write=False) as conn:
            tables.require_datastore(conn, datastore_id)
            return search_sql.page(conn, datastore_id, query, after, limit, now)

    def commit_update(
        self,
        datastore_id: str,
        image_set_id: str,
        expected_version: int,
        build: Callable[[dict[str, Any]], NewVersion],
        *,
        now: float,
        lock_until: float,
    ) -> VersionRow:
        """Append version expected+1, built by BUILD from the current document, in one transaction.

        ConflictError when the image set is LOCKED or its latest version is not EXPECTED_VERSION.
        BUILD runs inside the transaction on exactly that document; if it raises, nothing is written.
        """
        with self._tx(write=True) as conn:
            row = tables.require_image_set(conn, datastore_id, image_set_id, live_at=now)
            tables.check_writable(row, now)
            tables.check_version(row, expected_version)
            latest = int(row["latest_version"])
            new = build(json.loads(tables.version_of(conn, row, latest)["document"]))
            tables.swap_latest(conn, row, latest + 1, now, lock_until)
            tables.insert_version(conn, datastore_id, image_set_id, latest + 1, new,
                                 float(row["created_at"]), now)
        return self.get_version(datastore_id, image_set_id, latest + 1, now=now)

    def commit_study_update(
        self,
        datastore_id: str,
        image_set_id: str,
        expected_version: int,
        build: Callable[[list[dict[str, Any]]], list[NewVersion]],
        *,
        now: float,
        lock_until: float,
    ) -> list[VersionRow]:
        """``includeStudyImageSets``: append a version to IMAGE_SET_ID and to every other live primary image
        set whose latest document has the same StudyInstanceUID, all in one transaction.

        BUILD gets the current documents (the requested image set's first) and returns their new versions.
        ConflictError when any of them is LOCKED or the requested one is not at EXPECTED_VERSION; then
        nothing is written. While the lock lasts the siblings show ``UPDATING_FOR_STUDY_CONSISTENCY``.
        Returns the new versions, the requested image set's first.
        """
        with self._tx(write=True) as conn:
            row = tables.require_image_set(conn, datastore_id, image_set_id, live_at=now)
            tables.check_writable(row, now)
            tables.check_version(row, expected_version)
            latest = int(row["latest_version"])
            document = json.loads(tables.version_of(conn, row, latest)["document"])
            members = [(row, document), *tables.study_siblings(conn, row, study_uid(document), now)]
            for sibling, _doc in members[1:]:
                tables.check_writable(sibling, now)
            new_versions = build([doc for _row, doc in members])
            for index, ((member, _doc), new) in enumerate(zip(members, new_versions, strict=True)):
                version = int(member["latest_version"]) + 1
                status = "UPDATING" if index == 0 else "UPDATING_FOR_STUDY_CONSISTENCY"
                tables.swap_latest(conn, member, version, now, lock_until, status)
                tables.insert_version(conn, datastore_id, str(member["image_set_id"]), version, new,
                                     float(member["created_at"]), now)
            touched = [(str(m["image_set_id"]), int(m["latest_version"]) + 1) for m, _doc in members]
        return [self.get_version(datastore_id, member_id, version, now=now) for member_id, version in touched]

    def commit_copy(
        self, datastore_id: str, request: CopyRequest, build: Build, *, new_id: str | None, now: float,
        lock_until: float, lenient_promotion: bool = False, first_version: int = 1,
    ) -> tuple[VersionRow, VersionRow]:
        """CopyImageSet in one transaction (``reconciler.emulator.copy_store``): the source's and the
        destination's properties as of NOW (the destination is NEW_ID at FIRST_VERSION when the request names
        none)."""
        with self._tx(write=True) as conn:
            source_version, destination, version = commit_copy(conn, datastore_id, request, new_id, build, now=now,
                                                               lock_until=lock_until, lenient=lenient_promotion,
                                                               first_version=first_version)
        return (self.get_version(datastore_id, request.source_id, source_version, now=now),
                self.get_version(datastore_id, destination, version, now=now))

    def delete_image_set(
        self, datastore_id: str, image_set_id: str, *, now: float, lock_until: float | None = None
    ) -> VersionRow:
        """Delete an image set: LOCKED/DELETING until ``lock_until`` (default: at once), DELETED from then on.
        ConflictError while it is LOCKED (a deletion already under way included); returns its state at NOW.
        """
        ends = now if lock_until is None else max(now, lock_until)
        with self._tx(write=True) as conn:
            row = tables.require_image_set(conn, datastore_id, image_set_id, live_at=now)
            tables.check_writable(row, now)
            conn.execute(
                "UPDATE image_sets SET deleted_at = ?, lock_until = ?, lock_status = 'DELETING', updated_at = ?"
                " WHERE datastore_id = ? AND image_set_id = ?",
                (ends, ends, now, datastore_id, image_set_id),
            )
        return self.get_version(datastore_id, image_set_id, now=now)
