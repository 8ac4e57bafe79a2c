"""How a running apply is asked to stop: the first request ends sending, a second one ends waiting.

The command's signal handlers call ``request`` and nothing else (a handler should only set flags); the
executor's main loop reads the two events and does the rest: on the first request it sends no new
update and lets those in flight finish and be verified, within a bound; on the second it stops at once.
"""

from __future__ import annotations

import threading


class Cancellation:
    """Two one-way switches and what flipped them. Thread-safe; ``request`` is safe in a signal handler."""

    def __init__(self) -> None:
        self.stop_sending = threading.Event()  # set: no further UpdateImageSetMetadata is sent
        self.abort = threading.Event()  # set: stop waiting for what is in flight, at once
        self.reason: str | None = None  # what asked first, e.g. "SIGINT"
        self.abort_reason: str | None = None  # what asked a second time

    def request(self, reason: str) -> None:
        """The first call stops sending; any later one aborts."""
        if self.reason is None:
            self.reason = reason
            self.stop_sending.set()
        else:
            self.abort_reason = self.abort_reason or reason
            self.abort.set()

    @property
    def requested(self) -> bool:
        return self.stop_sending.is_set()

    @property
    def aborted(self) -> bool:
        return self.abort.is_set()

    @property
    def last_reason(self) -> str | None:
        """What ended the run: the second request when there was one (its signal sets the exit code)."""
        return self.abort_reason or self.reason
