"""Apply progress for people: a live one-line bar on a terminal, one plain line per image set otherwise.

Hand-written rather than rich (not a dependency here): one ``\\r`` line is all a bar needs. The CLI hands
in the stream; this module never picks one itself. ``close`` ends an open bar with a newline, so what is
written after it (the summary, an error) starts on a line of its own, also after an interrupt.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TextIO

from reconciler.apply.report import ImageSetResult


class Progress:
    """An executor observer that shows done, failed, remaining and the time left."""

    def __init__(self, stream: TextIO, *, live: bool, clock: Callable[[], float] = time.monotonic) -> None:
        self.stream = stream
        self.live = live
        self.clock = clock
        self.total = 0
        self.done = 0
        self.failed = 0
        self.start = 0.0
        self._open = False  # a bar is on the line with no newline after it

    def started(self, total: int) -> None:
        self.total = total
        self.start = self.clock()
        if self.live:
            self._bar()

    def finished(self, result: ImageSetResult) -> None:
        if result.status == "not_started":  # stopped before it began: still "remaining", not "done"
            return
        self.done += 1
        if result.status in ("failed", "stale"):
            self.failed += 1
        if self.live:
            self._bar()
            if self.done == self.total:
                self.close()
        else:
            self.stream.write(f"[{self.done}/{self.total}] {result.image_set_id}: {result.outcome}\n")
        self.stream.flush()

    def interrupted(self, reason: str, in_flight: int, drain_timeout: float) -> None:
        """Say once, on a line of its own, that the run is stopping and what it still waits for."""
        self.close()
        self.live = False  # from here on one plain line per image set that finishes
        sets = f"{in_flight} image set{'s' if in_flight != 1 else ''}"
        again = "press Ctrl-C again" if reason == "SIGINT" else f"send {reason} again"
        self.stream.write(
            f"Interrupted ({reason}): sending no new requests; waiting up to {drain_timeout:g} s for the {sets} "
            f"in flight to finish and be verified ({again} to stop at once).\n"
        )
        self.stream.flush()

    def close(self) -> None:
        """End the bar's line (if one is open) with a newline."""
        if self._open:
            self.stream.write("\n")
            self.stream.flush()
            self._open = False

    def eta(self) -> float | None:
        """Seconds left, from the mean time per finished image set so far."""
        if not self.done or self.done >= self.total:
            return None if not self.done else 0.0
        per = (self.clock() - self.start) / self.done
        return per * (self.total - self.done)

    def line(self) -> str:
        width = 24
        filled = int(width * self.done / self.total) if self.total else width
        eta = self.eta()
        left = "--" if eta is None else f"{eta:.0f}s"
        remaining = self.total - self.done
        return (
            f"[{'#' * filled}{'.' * (width - filled)}] {self.done}/{self.total} done, "
            f"{self.failed} failed/stale, {remaining} remaining, ETA {left}"
        )

    def _bar(self) -> None:
        self.stream.write("\r" + self.line())
        self.stream.flush()
        self._open = True
