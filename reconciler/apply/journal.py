"""The apply journal: JSON lines, one record per state change, fsync'd so a killed run leaves an exact record.

Records hold IDs, versions, counts, paths and service messages, never attribute values. Default place:
``.reconciler/journal/apply-<UTC timestamp>-<pid>.jsonl`` (one file per run), mode 0600.

Crash testing: with ``RECONCILER_CRASH_AFTER=EVENT`` in the environment the process kills itself with
SIGKILL right after the first record of EVENT is durable, so that tests can stop an apply at an exact step
boundary and check that a re-run finishes it (the way the emulator's ``--fault`` injects service faults);
``EVENT:IMAGE_SET_ID`` waits for the first record of EVENT about that image set (a member of a group).
"""

from __future__ import annotations

import json
import os
import signal
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from reconciler.errors import ReconcilerError
from reconciler.persist import open_private

DEFAULT_DIR = Path(".reconciler") / "journal"
CRASH_ENV = "RECONCILER_CRASH_AFTER"


class JournalError(ReconcilerError):
    """The journal could not be created or written (an apply never runs without its record)."""


def default_journal_path(directory: Path = DEFAULT_DIR) -> Path:
    """A fresh per-run file name with a UTC timestamp (and the pid, so two runs never share a file)."""
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S.%fZ")
    return directory / f"apply-{stamp}-{os.getpid()}.jsonl"


class Journal:
    """Append-only JSON-lines writer. Thread-safe; every record is flushed and fsync'd before returning."""

    def __init__(self, path: Path | str, *, run_id: str | None = None,
                 on_record: Callable[[dict[str, Any]], None] | None = None) -> None:
        """ON_RECORD, when given, is called with each record once it is durable (under the writer's lock, so
        in record order), e.g. to copy the journal to S3 after a replacement step."""
        self.path = Path(path)
        self._on_record = on_record
        self.run_id = run_id or self.path.stem
        self._lock = threading.Lock()
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd = open_private(self.path, append=True)
        except OSError as exc:
            raise JournalError(f"cannot open the apply journal {self.path}: {exc.strerror}") from None
        self._file = os.fdopen(fd, "a", encoding="utf-8")
        event, _, image_set = (os.environ.get(CRASH_ENV) or "").partition(":")
        self._crash_after, self._crash_about = event or None, image_set or None

    def record(self, event: str, **fields: Any) -> None:
        """Write one record ``{"ts", "run", "event", ...fields}`` and make it durable."""
        rec: dict[str, Any] = {"ts": round(time.time(), 3), "run": self.run_id, "event": event}
        rec.update({k: v for k, v in fields.items() if v is not None})
        line = json.dumps(rec, sort_keys=False, separators=(",", ":")) + "\n"
        with self._lock:
            try:
                self._file.write(line)
                self._file.flush()
                os.fsync(self._file.fileno())
            except (OSError, ValueError) as exc:
                raise JournalError(f"cannot write the apply journal {self.path}: {exc}") from None
            if self._on_record is not None:
                self._on_record(rec)
            if event == self._crash_after and self._crash_about in (None, fields.get("imageSetId")):
                os.kill(os.getpid(), signal.SIGKILL)  # crash testing only (see the module): kill -9 here

    def close(self) -> None:
        with self._lock:
            if not self._file.closed:
                self._file.close()

    def __enter__(self) -> Journal:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def read_journal(path: Path | str) -> list[dict[str, Any]]:
    """Parse a journal file; a torn last line (a kill during write) is ignored, any other bad line raises."""
    lines = Path(path).read_text(encoding="utf-8").split("\n")
    records: list[dict[str, Any]] = []
    for number, line in enumerate(lines, start=1):
        if not line:
            continue
        try:
            records.append(json.loads(line))
        except json.JSONDecodeError:
            if number == len(lines):  # no trailing newline: the write was cut
                break
            raise JournalError(f"{path}:{number}: not a JSON record") from None
    return records
