"""The wiring of one apply run, apart from the command line: where its journal goes (a local file, uploaded
under an S3 prefix when ``--journal s3://...``), the ledger of earlier runs' journals (local, and those under
the prefix) that a half-done replacement is finished from, the progress bar, the stop request that SIGINT and
SIGTERM raise, the executor, and the journal's upload at the end (also after a failure or an interrupt, so a
CI job keeps the record).

``apply_cmd`` parses, plans or loads the plan, asks for confirmation, and renders what ``ApplySession.run``
returns; everything between is here.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

from reconciler.api import HealthImagingAPI
from reconciler.apply.cancel import Cancellation
from reconciler.apply.executor import ApplyOptions, Executor
from reconciler.apply.journal import Journal, default_journal_path
from reconciler.apply.ledger import STEPS, Ledger, default_folders
from reconciler.apply.progress import Progress
from reconciler.apply.report import ApplyReport
from reconciler.apply.s3journal import StepUploader, read_journals
from reconciler.errors import ReconcilerError
from reconciler.persist import Storage, is_s3, split_s3
from reconciler.plan.model import Plan

Warn = Callable[[str], None]
Guard = Callable[[Cancellation], AbstractContextManager[None]]


@dataclass(frozen=True)
class SessionResult:
    report: ApplyReport
    not_uploaded: str | None = None  # why the journal could not be uploaded (it is kept locally)


class ApplySession:
    """One apply run. JOURNAL is ``--journal`` as given: None (the default local file), a local path, or an
    ``s3://BUCKET/PREFIX/`` (written locally, uploaded there). GUARD routes SIGINT/SIGTERM to the run's
    stop request while it sends (the command line's ``stop_on_signals``). SAY prints a line on stderr, WARN a
warning."""

    def __init__(self, storage: Storage, *, journal: str | None, progress_to: TextIO, live: bool, say: Warn,
                 warn: Warn, guard: Guard) -> None:
        if is_s3(journal):
            split_s3(journal or "", prefix=True)  # a bad URL fails before anything is sent
        self.storage, self.guard = storage, guard
        self.say, self.warn = say, warn
        self.s3_prefix = journal if is_s3(journal) else None
        self.journal = default_journal_path() if self.s3_prefix or not journal else Path(journal)
        self.progress_to, self.live = progress_to, live
        self.ledger = Ledger(default_folders(self.journal),  # replacements a crash left half-way
                             remote=self._remote_journals() if self.s3_prefix else None)

    def run(self, api: HealthImagingAPI, plan: Plan, options: ApplyOptions) -> SessionResult:
        """Apply PLAN with API (the client that planned it, or the one of a saved plan's backend): journalled,
        guarded, with progress. The journal is uploaded whatever happens."""
        progress = Progress(self.progress_to, live=self.live)
        # a kill -9 mid-replacement leaves S3 holding its steps: a re-run on another runner finishes it
        on_record = (StepUploader(self.journal, self.s3_prefix, self.storage, self.warn, frozenset(STEPS))
                     if self.s3_prefix else None)
        cancel = Cancellation()
        not_uploaded = None
        try:
            with Journal(self.journal, on_record=on_record) as journal_file, self.guard(cancel):
                report = Executor(api, journal_file, options=options, observer=progress, cancel=cancel,
                                  ledger=self.ledger).run(plan)
        finally:
            progress.close()  # the summary or an error starts on a line of its own
            if self.s3_prefix and self.journal.exists():  # also after a failure or an interrupt
                try:
                    self.say(f"Journal uploaded to {self.storage.upload(self.journal, self.s3_prefix)}")
                except ReconcilerError as exc:  # what was applied is still reported; the journal stays on disk
                    not_uploaded = str(exc)
        return SessionResult(report, not_uploaded)

    def _remote_journals(self) -> Callable[[frozenset[str]], list[tuple[str, str]]]:
        """The Ledger's reader of the journals under the S3 prefix (those not also in the local folders)."""
        prefix = self.s3_prefix or ""
        return lambda local: read_journals(prefix, self.storage, self.warn, skip=local)
