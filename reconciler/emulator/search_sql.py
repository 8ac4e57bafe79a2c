"""SearchImageSets in SQL: one page at a time from indexes, never a scan of the datastore per page.

The searchable part of each latest version (``reconciler.emulator.search.searchable``) lives in
``search_values`` (equality key, value, image set) and in ``image_sets`` columns (``study_key``,
``tags``). The sort columns have one partial index per direction over live image sets, ordered as the
answer is: the sort value, then the image set ID ascending. A page is the next ``limit`` rows after the
last row of the previous page (keyset pagination: the nextToken carries that row's sort value and ID),
so every page costs an index seek plus its own rows, however deep in the listing it is. An equality
filter drives the query from ``search_values`` instead, and only its matches are sorted.
"""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass
from typing import Any

from reconciler.emulator.records import ms, storage_tier
from reconciler.emulator.search import Query

COLUMNS = {"updatedAt": "updated_at", "createdAt": "created_at", "DICOMStudyDateAndTime": "study_key"}
_TIME_SLACK = 0.0005  # a stored time matches a bound when it rounds to it in whole milliseconds

INDEXES = "\n".join(
    f"CREATE INDEX IF NOT EXISTS image_sets_by_{col}_{d} ON image_sets"
    f" (datastore_id, {col}{' DESC' if d == 'desc' else ''}, image_set_id);"
    for col in COLUMNS.values() for d in ("asc", "desc")
)
# An image set is found until its deletion is over (one still DELETING is found, LOCKED): the indexes hold
# every image set, and the few deleted ones are skipped as the index is walked.
_LIVE = "(i.deleted_at IS NULL OR i.deleted_at > ?)"


@dataclass(frozen=True)
class Hit:
    """One live image set found: what its summary is made of."""

    image_set_id: str
    version: int
    created_at: float
    updated_at: float
    is_primary: bool
    last_accessed_at: float
    tags: str
    sort_value: Any


def page(conn: sqlite3.Connection, datastore_id: str, query: Query, after: tuple[Any, str] | None,
         limit: int, now: float) -> list[Hit]:
    """Up to LIMIT hits in answer order, after the row AFTER (sort value, image set ID) when given; image
    sets DELETED by NOW are not found."""
    col = COLUMNS[query.sort_field]
    base, params = _base(datastore_id, query, now)
    order_dir = "DESC" if query.descending else "ASC"
    rows: list[sqlite3.Row] = []
    if after is not None:
        value, last_id = after
        # the rest of the rows that tie with the last one, then the rows past it
        rows += conn.execute(f"{base} AND i.{col} = ? AND i.image_set_id > ? ORDER BY i.image_set_id LIMIT ?",
                             (*params, value, last_id, limit)).fetchall()
        if len(rows) < limit:
            past = "<" if query.descending else ">"
            rows += conn.execute(
                f"{base} AND i.{col} {past} ? ORDER BY i.{col} {order_dir}, i.image_set_id LIMIT ?",
                (*params, value, limit - len(rows))).fetchall()
    else:
        rows = conn.execute(f"{base} ORDER BY i.{col} {order_dir}, i.image_set_id LIMIT ?",
                            (*params, limit)).fetchall()
    return [Hit(str(r["image_set_id"]), int(r["latest_version"]), float(r["created_at"]), float(r["updated_at"]),
                bool(r["is_primary"]), float(r["last_accessed_at"] or r["updated_at"]), str(r["tags"] or "{}"),
                r[col]) for r in rows]


def summary(hit: Hit, now: float, archive_after: float) -> dict[str, Any]:
    """One ``ImageSetsMetadataSummary`` (``version`` is an integer in the model), with its storage tier:
    searching is no access (https://docs.aws.amazon.com/healthimaging/latest/devguide/cost-optimization.html)."""
    return {
        "imageSetId": hit.image_set_id,
        "version": hit.version,
        "createdAt": ms(hit.created_at),
        "updatedAt": ms(hit.updated_at),
        "isPrimary": hit.is_primary,
        "DICOMTags": json.loads(hit.tags),
        "storageTier": storage_tier(hit.last_accessed_at, now, archive_after),
        "lastAccessedAt": ms(hit.last_accessed_at),
    }


def _base(datastore_id: str, query: Query, now: float) -> tuple[str, list[Any]]:
    """SELECT ... FROM ... WHERE <every filter>, open for more conditions."""
    params: list[Any] = []
    columns = "i.image_set_id, i.latest_version, i.created_at, i.updated_at, i.is_primary, " \
              "i.last_accessed_at, i.tags, i.study_key"
    if query.equal:
        key, value = query.equal[0]
        # CROSS JOIN keeps SQLite from scanning the sort index and probing each row: the matches are few
        sql = (f"SELECT {columns} FROM search_values k CROSS JOIN image_sets i"
               " ON i.datastore_id = k.datastore_id AND i.image_set_id = k.image_set_id"
               f" WHERE k.datastore_id = ? AND k.key = ? AND k.value = ? AND {_LIVE}")
        params += [datastore_id, key, value, now]
    else:
        sql = f"SELECT {columns} FROM image_sets i WHERE i.datastore_id = ? AND {_LIVE}"
        params += [datastore_id, now]
    for key, value in query.equal[1:]:
        sql += (" AND EXISTS (SELECT 1 FROM search_values k2 WHERE k2.datastore_id = i.datastore_id"
                " AND k2.key = ? AND k2.value = ? AND k2.image_set_id = i.image_set_id)")
        params += [key, value]
    if query.primary is not None:
        sql += " AND i.is_primary = ?"
        params.append(int(query.primary))
    for field, low, high in query.ranges:
        col = COLUMNS[field]
        if col == "study_key":
            sql += f" AND i.{col} >= ? AND i.{col} <= ?"
            params += [low, high]
        else:
            sql += f" AND i.{col} >= ? AND i.{col} < ?"
            params += [low - _TIME_SLACK, high + _TIME_SLACK]
    return sql, params
