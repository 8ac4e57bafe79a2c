"""The outcome of an apply, per image set, and its text and JSON forms (IDs, versions, messages; no values)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

Status = Literal["converged", "unchanged", "stale", "failed", "unfinished", "not_started"]
"""``unfinished``: a request was sent, but the run stopped before the image set was verified (it may be
half-way: re-plan); ``not_started``: the run stopped before anything was sent to it (it is untouched)."""
STATUSES: tuple[Status, ...] = ("converged", "unchanged", "stale", "failed", "unfinished", "not_started")

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

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "datastoreId": self.datastore_id,
            "imageSetId": self.image_set_id,
            "status": self.status,
            "plannedVersion": self.planned_version,
            "currentVersion": self.current_version,
            "finalVersion": self.final_version,
            "requestsSent": self.requests_sent,
            "requests": self.requests_total,
            "message": self.message,
        }
        if self.unmet:
            out["unmet"] = list(self.unmet)
        return out

    def text(self) -> str:
        who = f"{self.datastore_id}/{self.image_set_id}"
        if self.status == "converged":
            n = self.requests_sent
            return (
                f"  converged  {who}: version {self.planned_version} -> {self.final_version} "
                f"({n} request{'s' if n != 1 else ''}, verified)" + (f"; {self.message}" if self.message else "")
            )
        if self.status == "unchanged":
            return f"  unchanged  {who}: version {self.planned_version}, nothing to do"
        if self.status == "stale":
            return (
                f"  stale      {who}: planned version {self.planned_version}, now {self.current_version}; "
                "nothing was written (re-plan to see the other writer's change)"
            )
        if self.status == "not_started":
            return f"  not started {who}: nothing was sent"
        if self.status == "unfinished":
            return f"  unfinished {who}: {self.message or 'the run stopped before it was verified'}"
        return f"  failed     {who}: {self.message or 'unknown error'}"


@dataclass(frozen=True)
class ApplyReport:
    results: tuple[ImageSetResult, ...]
    journal: str | None = None
    elapsed: float = 0.0
    interrupted: bool = False
    signal: str | None = None  # what interrupted the run ("SIGINT", "SIGTERM"), when a signal did
    aborted: bool = False  # a second signal: in-flight image sets were not waited for

    def count(self, status: Status) -> int:
        return sum(1 for r in self.results if r.status == status)

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
        return {"image_sets": len(self.results)} | {s: self.count(s) for s in STATUSES}

    def to_json(self) -> dict[str, Any]:
        return {
            "format_version": "1",
            "summary": self.summary(),
            "exit_code": self.exit_code,
            "journal": self.journal,
            "elapsed_seconds": round(self.elapsed, 3),
            "interrupted": self.interrupted,
            "signal": self.signal,
            "aborted": self.aborted,
            "image_sets": [r.to_json() for r in self.results],
        }

    def text_lines(self) -> Sequence[str]:
        """One line per image set that did something (not the untouched ones), then the summary."""
        s = self.summary()
        lines = [r.text() for r in self.results if r.status not in ("unchanged", "not_started")]
        counts = f"{s['converged']} converged, {s['unchanged']} unchanged, {s['stale']} stale, {s['failed']} failed"
        if not self.interrupted:
            lines.append(f"Apply complete: {counts} ({self.elapsed:.1f} s).")
        else:
            how = "aborted" if self.aborted else "interrupted"
            by = f" by {self.signal}" if self.signal else ""
            lines.append(f"Apply {how}{by}: {counts}, {s['unfinished']} unfinished, "
                         f"{s['not_started']} not started ({self.elapsed:.1f} s).")
            if s["unfinished"]:
                lines.append("Unfinished image sets had a request sent and were not verified: re-plan to see "
                             "where each one is.")
            if s["not_started"] or s["unfinished"]:
                lines.append("Apply the same plan again to continue: image sets already applied are found "
                             "and skipped without sending anything.")
        if self.journal:
            lines.append(f"Journal: {self.journal}")
        return lines
