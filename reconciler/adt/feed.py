"""One message in, its spec files out: the part ``adt read`` and ``adt listen`` share.

A message is processed whole or not at all: every PID of it is mapped (MalformedMessage before anything is
read or written), then each correction is resolved against HealthImaging and written to the patient's
file, and only then is its control ID recorded as processed. A message whose control ID was processed
before is not written again. Outcomes carry IDs, counts and file names, never patient values.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from reconciler.adt.folder import Existing, SpecFolder, file_name
from reconciler.adt.mapping import HANDLED, Correction, Identifier, corrections
from reconciler.adt.messages import Message
from reconciler.adt.render import SpecFile, render, source_line
from reconciler.adt.resolve import Directory, resolve

Status = Literal["written", "duplicate", "skipped", "nothing"]


@dataclass(frozen=True)
class Outcome:
    control_id: str
    event: str
    status: Status
    files: tuple[Path, ...] = ()
    notes: tuple[str, ...] = ()
    values: tuple[tuple[str, str | None], ...] = ()  # what was written: patient data, shown only on request

    def describe(self) -> str:
        """One line for the user, without patient values."""
        head = f"{self.event or '?'} {self.control_id}"
        if self.status == "written":
            text = f"{head}: wrote {', '.join(str(f) for f in self.files)}"
        elif self.status == "duplicate":
            text = f"{head}: already processed (control ID seen before); nothing written"
        elif self.status == "skipped":
            text = f"{head}: skipped (not handled: only {', '.join(HANDLED)} change image sets)"
        else:
            text = f"{head}: nothing written"
        return text + "".join(f"; {note}" for note in self.notes if note)


def subject(kind: str, who: Identifier) -> str:
    return f"{kind} {json.dumps({'id': who.id, 'issuer': who.issuer}, ensure_ascii=True)}"


@dataclass(frozen=True)
class Feed:
    """Turns messages into spec files in FOLDER for the image sets the DIRECTORY finds."""

    directory: Directory
    folder: SpecFolder
    replace: bool
    schema_ref: str

    @property
    def datastore_id(self) -> str:
        return self.directory.datastore_id

    def process(self, message: Message, found: tuple[Correction, ...] | None = None) -> Outcome:
        """Process MESSAGE (FOUND: its corrections, when the caller mapped it already)."""
        found = corrections(message) if found is None else found  # MalformedMessage: nothing read or written
        event = f"{message.message_type}^{message.event}" if message.message_type != "ADT" else message.event
        if not found:
            return Outcome(message.control_id, event, "skipped")
        if self.folder.processed(message.control_id) is not None:
            return Outcome(message.control_id, event, "duplicate")
        files: list[Path] = []
        notes: list[str] = []
        values: list[tuple[str, str | None]] = []
        for n, correction in enumerate(found, start=1):
            name = file_name(message.event, message.control_id if len(found) == 1 else f"{message.control_id}-{n}")
            written, note = self._write(correction, name)
            if written:
                files.append(written)
                values += correction.attributes
            notes.append(note)
        status: Status = "written" if files else "nothing"
        self.folder.record(message.control_id, status)
        return Outcome(message.control_id, event, status, tuple(files), tuple(notes), tuple(values))

    def _write(self, correction: Correction, name: str) -> tuple[Path | None, str]:
        resolution = resolve(self.directory, correction)
        if not resolution.targets:
            return None, resolution.note
        kind = "merge" if correction.prior else "update"
        key = subject(kind, correction.subject)
        earlier = [e for e in (self.folder.existing(key),) if e is not None]
        # the prior patient's own updates (an A08 file selecting the prior ID, which finds nothing after the
        # merge) now reach its image sets through the merge: folded into its file, and their files removed
        prior = correction.prior
        folded = [subject("update", Identifier(prior.id, issuer)) for issuer in dict.fromkeys((prior.issuer, ""))
                  ] if prior else []
        updates = [(key, e) for key in folded if (e := self.folder.existing(key)) is not None]
        earlier[:0] = [e for _, e in updates]
        attributes, sources = _merged(earlier, correction)
        if not attributes:
            return None, "the message names no PID-5, PID-7 or PID-8 value to write"
        text = render(SpecFile(key, sources, self.datastore_id, resolution.targets, attributes, self.replace,
                               self.schema_ref))
        path = self.folder.write(key, name, text)
        for folded_key, _ in updates:
            self.folder.retire(folded_key)
        return path, resolution.note


def _merged(earlier: list[Existing], correction: Correction) -> tuple[dict[str, str | None], tuple[str, ...]]:
    """Desired values (the newest message wins per attribute) and source lines (each control ID once)."""
    attributes: dict[str, str | None] = {}
    sources: list[str] = []
    for existing in earlier:
        attributes.update(existing.attributes)
        sources += [s for s in existing.sources if s not in sources]
    attributes.update(dict(correction.attributes))
    line = source_line(correction.event, correction.control_id, correction.time, [a for a, _ in correction.attributes])
    if line not in sources:
        sources.append(line)
    return attributes, tuple(sources)
