"""The specs folder the ADT feed writes to: one file per patient, named by its latest event and control ID,
written whole (a temporary file renamed over it), mode 0600, never over another patient's file, and a
record of the control IDs already processed (``.adt-processed``, JSON lines), so a message sent twice is
written once.

With ``durable``, each file and the folder are fsync'd before a message counts as processed (the listener
ACKs only then): https://man7.org/linux/man-pages/man2/fsync.2.html ("calling fsync() on a file descriptor
for the directory" makes the new name durable too).
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import yaml

from reconciler.adt.render import SOURCE_PREFIX, SUBJECT_PREFIX
from reconciler.errors import ReconcilerError
from reconciler.persist import open_private, write_local

RECORD = ".adt-processed"
_NAME_UNSAFE = re.compile(r"[^A-Za-z0-9._-]")


@dataclass(frozen=True)
class Existing:
    """What a patient's file already holds: its path, the messages it came from and its desired values."""

    path: Path
    sources: tuple[str, ...]
    attributes: Mapping[str, str | None]


def file_name(event: str, control_id: str) -> str:
    """``adt-A08-MSG00001.yaml``: the event and control ID, never a patient value."""
    return f"adt-{_NAME_UNSAFE.sub('_', event)}-{_NAME_UNSAFE.sub('_', control_id)[:80]}.yaml"


class SpecFolder:
    """The ADT files of one folder, indexed by subject at open and kept current as this process writes."""

    def __init__(self, path: Path, *, durable: bool) -> None:
        self.path = path
        self.durable = durable
        try:
            path.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise ReconcilerError(f"{path}: cannot create the specs folder ({exc.strerror})") from None
        self._subjects: dict[str, Path] = {}
        for file in sorted(path.glob("adt-*.yaml")):
            subject = _subject_of(file)
            if subject is not None:
                self._subjects[subject] = file
        self._processed: dict[str, str] = {}
        record = path / RECORD
        if record.exists():
            for line in record.read_text(encoding="utf-8").splitlines():
                try:
                    entry = json.loads(line)
                    self._processed[str(entry["controlId"])] = str(entry.get("outcome", ""))
                except (ValueError, KeyError, TypeError):
                    continue  # a line torn by a crash: its message was not acknowledged, and comes again

    def processed(self, control_id: str) -> str | None:
        """What became of CONTROL_ID when it was processed before (None: never)."""
        return self._processed.get(control_id)

    def existing(self, subject: str) -> Existing | None:
        file = self._subjects.get(subject)
        if file is None or not file.exists():
            return None
        text = file.read_text(encoding="utf-8")
        sources = tuple(line[len(SOURCE_PREFIX):] for line in text.splitlines() if line.startswith(SOURCE_PREFIX))
        try:
            first = next(iter(yaml.safe_load_all(text)), None)
        except yaml.YAMLError:
            raise ReconcilerError(f"{file}: not valid YAML any more; fix or remove it, then send the message "
                                  "again") from None
        desired = ((first or {}).get("desired") or {}).get("Patient", {}).get("DICOM", {}) if isinstance(
            first, dict) else {}
        attributes = {str(k): (None if v is None else str(v)) for k, v in desired.items()}
        return Existing(file, sources, attributes)

    def write(self, subject: str, name: str, text: str) -> Path:
        """Write TEXT as NAME for SUBJECT, replacing SUBJECT's earlier file (if named otherwise, it is
        removed once the new one is written). A file of that name about another subject is never touched."""
        target = self.path / name
        if target.exists() and _subject_of(target) != subject:
            raise ReconcilerError(f"{target}: already exists for another patient or was not written by "
                                  "`reconciler adt`; not overwritten",
                                  hint="a sender reused a control ID: move that file away and send the message again")
        write_local(target, [text.encode("utf-8")], sync=self.durable)
        previous = self._subjects.get(subject)
        self._subjects[subject] = target
        if previous is not None and previous != target and previous.exists():
            previous.unlink()
        self._sync_folder()
        return target

    def record(self, control_id: str, outcome: str) -> None:
        """Note CONTROL_ID as processed (after its file is written): the same control ID again is not."""
        line = json.dumps({"controlId": control_id, "outcome": outcome}) + "\n"
        new = not (self.path / RECORD).exists()
        fd = open_private(self.path / RECORD, append=True)
        try:
            os.write(fd, line.encode("utf-8"))
            if self.durable:
                os.fsync(fd)
        finally:
            os.close(fd)
        if new:
            self._sync_folder()
        self._processed[control_id] = outcome

    def retire(self, subject: str) -> None:
        """Remove SUBJECT's file (a merge took over what it held)."""
        file = self._subjects.pop(subject, None)
        if file is not None and file.exists():
            file.unlink()
            self._sync_folder()

    def _sync_folder(self) -> None:
        if not self.durable:
            return
        fd = os.open(self.path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def _subject_of(file: Path) -> str | None:
    try:
        with file.open(encoding="utf-8") as fh:
            for _ in range(3):
                line = fh.readline()
                if line.startswith(SUBJECT_PREFIX):
                    return line[len(SUBJECT_PREFIX):].rstrip("\n")
    except OSError:
        return None
    return None
