"""Where a replacement stands, read back from the apply journals, so that a re-run finishes it.

Every step of a replacement (``reconciler.apply.replace``) is journalled before its request is sent and
after it is answered, fsync'd both times. A re-run reads the journals of the journal folder (the folder
of ``--journal``, and the default ``.reconciler/journal``; with ``--journal s3://BUCKET/PREFIX/`` also the
journals stored under that prefix, which a run keeps current at each replacement step), folds the records
of one original image set in time order, and continues from the last step the records show; a
``replace_abandoned`` record (the copy was deleted while the primary still held everything) or a
``converged`` one ends a replacement.
What the records cannot tell (a request sent, its answer never recorded) the replacement reads from the
live state. Records hold IDs, versions, counts and keyed digests, never UIDs or attribute values.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from reconciler.apply.journal import DEFAULT_DIR

STEPS = ("copy_submitting", "copy_submitted", "copied", "copy_updating", "copy_updated", "primary_deleting",
         "primary_deleted", "promoting", "promote_submitted", "promote_failed", "promoted", "temp_deleting",
         "temp_deleted", "replace_abandoned",
         # a member of a replacement group (``reconciler.apply.replace_group``) also keeps a pristine copy, and a
         # group that cannot be promoted deletes what it promoted and promotes the pristine copies back
         "pristine_submitting", "pristine_submitted", "pristine_copied", "pristine_deleting", "pristine_deleted",
         "rollback_deleting", "rollback_deleted", "restore_promoting", "restore_submitted", "restored",
         "replace_restored")


@dataclass
class Progress:
    """One replacement as its records leave it (all None/False: nothing done yet)."""

    datastore_id: str
    image_set_id: str  # the original primary image set
    planned_version: str | None = None
    salt: str | None = None
    copy_sending: float | None = None  # ts of copy_submitting (the copy may be out, its answer unrecorded)
    copy_id: str | None = None
    copy_version: str | None = None  # the copy's latest version the records know
    copied_version: str | None = None  # its version once the copy settled (before any update)
    primary_deleting: bool = False
    primary_deleted: bool = False
    promoting: float | None = None  # ts of promoting (the promotion may be out, its answer unrecorded)
    new_id: str | None = None
    new_version: str | None = None  # the promoted image set's version its answer gave (older records: None)
    promoted: bool = False
    temp_deleted: bool = False
    group: tuple[str, ...] = ()  # the originals of its replacement group (empty: replaced alone)
    pristine_sending: float | None = None  # ts of pristine_submitting
    pristine_id: str | None = None
    pristine_version: str | None = None
    pristine_copied: bool = False
    pristine_deleted: bool = False
    rolled_back: bool = False  # the promoted copy was deleted again (the group could not be promoted)
    restoring: float | None = None  # ts of restore_promoting (the pristine copy's promotion)
    restored_id: str | None = None
    restored_version: str | None = None
    restored: bool = False
    done: bool = False  # converged: nothing is left to do
    last: str | None = None  # the last event

    @property
    def started(self) -> bool:
        return self.last is not None and not self.done


def fold(progress: Progress, record: dict[str, Any]) -> Progress:
    """PROGRESS after one journal RECORD about its image set."""
    event = record.get("event")
    if event in ("replace_abandoned", "replace_restored"):
        return Progress(progress.datastore_id, progress.image_set_id)
    if event == "converged" and record.get("replacedBy"):
        progress.done, progress.new_id, progress.last = True, str(record["replacedBy"]), "converged"
        return progress
    if event not in STEPS:
        return progress
    if progress.done:  # a new replacement of the same image set (its ID came back? never): start over
        progress = Progress(progress.datastore_id, progress.image_set_id)
    progress.last = str(event)
    progress.planned_version = record.get("plannedVersion", progress.planned_version)
    progress.salt = record.get("salt", progress.salt)
    if record.get("copyId"):
        progress.copy_id = str(record["copyId"])
    if record.get("copyVersion"):
        progress.copy_version = str(record["copyVersion"])
    if event == "copy_submitting":
        progress.copy_sending = float(record.get("ts", 0.0))
    elif event == "copied":
        progress.copied_version = progress.copy_version
    elif event == "primary_deleting":
        progress.primary_deleting = True
    elif event == "primary_deleted":
        progress.primary_deleting = progress.primary_deleted = True
    elif event == "promoting":
        progress.promoting = float(record.get("ts", 0.0))
    elif event == "promote_submitted":
        progress.new_id = str(record["newId"])
        progress.new_version = str(record["newVersion"]) if record.get("newVersion") else None
    elif event == "promote_failed":
        progress.new_id, progress.new_version, progress.promoting = None, None, None
    elif event == "promoted":
        progress.new_id, progress.promoted = str(record["newId"]), True
    elif event == "temp_deleted":
        progress.temp_deleted = True
    else:
        _fold_group(progress, str(event), record)
    if record.get("group"):
        progress.group = tuple(map(str, record["group"]))
    return progress


def _fold_group(progress: Progress, event: str, record: dict[str, Any]) -> None:
    """The records only a member of a replacement group writes."""
    if event == "pristine_submitting":
        progress.pristine_sending = float(record.get("ts", 0.0))
    elif event == "pristine_submitted":
        progress.pristine_id, progress.pristine_version = str(record["pristineId"]), str(record["pristineVersion"])
    elif event == "pristine_copied":
        progress.pristine_id, progress.pristine_copied = str(record["pristineId"]), True
        progress.pristine_version = str(record.get("pristineVersion") or progress.pristine_version)
    elif event == "pristine_deleted":
        progress.pristine_deleted = True
    elif event == "rollback_deleted":
        progress.rolled_back, progress.new_id, progress.promoted = True, None, False
    elif event == "restore_promoting":
        progress.restoring = float(record.get("ts", 0.0))
    elif event == "restore_submitted":
        progress.restored_id, progress.restored_version = str(record["newId"]), str(record["newVersion"])
    elif event == "restored":
        progress.restored_id, progress.restored = str(record["newId"]), True


Remote = Callable[[frozenset[str]], Iterable[tuple[str, str]]]


class Ledger:
    """The replacement records of the journals in FOLDERS, and of those REMOTE returns (e.g. the journals under
    an S3 prefix, ``reconciler.apply.s3journal``: it is given the names of the local journals, copies of which
    it leaves out, and returns (name, text) pairs). Read once, when first asked."""

    def __init__(self, folders: Iterable[Path], *, remote: Remote | None = None) -> None:
        self.folders = tuple(dict.fromkeys(Path(f).resolve() for f in folders))
        self.remote = remote
        self._records: list[dict[str, Any]] | None = None
        self._lock = threading.Lock()  # the workers of a saved plan's apply ask first, maybe at once

    def _load(self) -> list[dict[str, Any]]:
        with self._lock:
            if self._records is None:
                files = list(self._files())
                found = [r for path in files for r in _replacement_records(_read(path))]
                if self.remote is not None:
                    local = frozenset(path.name for path in files)
                    found += [r for _name, text in self.remote(local) for r in _replacement_records(text)]
                self._records = sorted(found, key=lambda r: float(r.get("ts", 0.0)))
            return self._records

    def _files(self) -> Iterator[Path]:
        for folder in self.folders:
            if folder.is_dir():
                yield from sorted(folder.glob("*.jsonl"))

    def records(self) -> list[dict[str, Any]]:
        """The replacement records of every journal read, oldest first (``reconciler.apply.lineage`` folds them)."""
        return list(self._load())

    def progress(self, datastore_id: str, image_set_id: str) -> Progress:
        """Where the replacement of IMAGE_SET_ID stands (a fresh Progress when the journals hold none)."""
        out = Progress(datastore_id, image_set_id)
        for r in self._load():
            if r.get("imageSetId") == image_set_id and r.get("datastoreId") == datastore_id:
                out = fold(out, r)
        return out

    def unfinished(self) -> list[Progress]:
        """Every replacement the journals show started and not finished, in the order they started."""
        keys = dict.fromkeys((str(r.get("datastoreId")), str(r.get("imageSetId"))) for r in self._load()
                             if r.get("event") in STEPS)
        return [p for p in (self.progress(ds, i) for ds, i in keys) if p.started]


def default_folders(journal: Path | None) -> tuple[Path, ...]:
    """The folders a run looks in: its journal's, and the default one."""
    return (journal.parent, DEFAULT_DIR) if journal is not None else (DEFAULT_DIR,)


def _read(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return ""


def _replacement_records(text: str) -> Iterator[dict[str, Any]]:
    """The records of one journal's TEXT about replacements (a torn or foreign line is skipped)."""
    for line in text.split("\n"):
        if '"replacedBy"' not in line and not any(f'"event":"{s}"' in line for s in STEPS):
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            continue
        if isinstance(record, dict):
            yield record
