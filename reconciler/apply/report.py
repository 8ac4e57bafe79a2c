"""The outcome of an apply, per image set, and the exit code it means (``reconciler.render.apply_report``
writes it as text or JSON)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from reconciler.plan.cost import Cost
from reconciler.ratelimit import Pace

Status = Literal["converged", "unchanged", "stale", "failed", "unfinished", "not_started"]
"""``unfinished``: a request was sent, but the run stopped before the image set was verified (it may be
half-way: re-plan); ``not_started``: the run stopped before anything was sent to it (it is untouched)."""
STATUSES: tuple[Status, ...] = ("converged", "unchanged", "stale", "failed", "unfinished", "not_started")
Outcome = Literal[Status, "replaced"]
"""What the report calls a result: its status, except that a converged replacement is ``replaced`` (its image
set was deleted and a new one holds the plan), so that it is not counted as converged in place."""
OUTCOMES: tuple[Outcome, ...] = ("converged", "replaced", "unchanged", "stale", "failed", "unfinished",
                                 "not_started")

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_STALE = 3
# a run stopped by a signal exits 128 + the signal's number, as a shell reports a process it killed
EXIT_SIGNAL = {"SIGINT": 130, "SIGTERM": 143}


@dataclass(frozen=True)
class ImageSetResult:
    datastore_id: str
    image_set_id: str
    status: Status
    planned_version: str | None = None
    current_version: str | None = None  # for stale: the version found instead of the planned one
    final_version: str | None = None  # the version our last request produced
    requests_sent: int = 0
    requests_total: int = 0
    message: str | None = None
    unmet: tuple[str, ...] = ()  # dotted paths that did not hold after the update
    replaced_by: str | None = None  # a replacement: the new primary image set's ID (IDs are not patient data)

    @property
    def outcome(self) -> Outcome:
        """The status as reported (text, JSON, summary counts): ``replaced`` for a converged replacement."""
        return "replaced" if self.status == "converged" and self.replaced_by is not None else self.status


@dataclass(frozen=True)
class ApplyReport:
    results: tuple[ImageSetResult, ...]
    journal: str | None = None
    elapsed: float = 0.0
    interrupted: bool = False
    signal: str | None = None  # what interrupted the run ("SIGINT", "SIGTERM"), when a signal did
    aborted: bool = False  # a second signal: in-flight image sets were not waited for
    cost: Cost | None = None  # what the run (its plan included) asked of the service
    pacing: tuple[Pace, ...] = ()  # the rate each paced operation reached, and its throttled requests

    def count(self, status: Outcome) -> int:
        return sum(1 for r in self.results if r.outcome == status)

    @property
    def exit_code(self) -> int:
        if self.interrupted:
            return EXIT_SIGNAL.get(self.signal or "", EXIT_FAILED)
        if self.count("failed"):
            return EXIT_FAILED
        if self.count("stale"):
            return EXIT_STALE
        return EXIT_OK

    def summary(self) -> dict[str, int]:
        return {"image_sets": len(self.results)} | {s: self.count(s) for s in OUTCOMES}
