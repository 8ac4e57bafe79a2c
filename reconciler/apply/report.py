"""The outcome of an apply, per image set, and its text and JSON forms (IDs, versions, messages; no values)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

Status = Literal["converged", "unchanged", "stale", "failed"]

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_STALE = 3


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
        return f"  failed     {who}: {self.message or 'unknown error'}"


@dataclass(frozen=True)
class ApplyReport:
    results: tuple[ImageSetResult, ...]
    journal: str | None = None
    elapsed: float = 0.0
    interrupted: bool = False

    def count(self, status: Status) -> int:
        return sum(1 for r in self.results if r.status == status)

    @property
    def exit_code(self) -> int:
        if self.interrupted or self.count("failed"):
            return EXIT_FAILED
        if self.count("stale"):
            return EXIT_STALE
        return EXIT_OK

    def summary(self) -> dict[str, int]:
        statuses: tuple[Status, ...] = ("converged", "unchanged", "stale", "failed")
        return {"image_sets": len(self.results)} | {s: self.count(s) for s in statuses}

    def to_json(self) -> dict[str, Any]:
        return {
            "format_version": "1",
            "summary": self.summary(),
            "exit_code": self.exit_code,
            "journal": self.journal,
            "elapsed_seconds": round(self.elapsed, 3),
            "interrupted": self.interrupted,
            "image_sets": [r.to_json() for r in self.results],
        }

    def text_lines(self) -> Sequence[str]:
        s = self.summary()
        head = "Apply interrupted" if self.interrupted else "Apply complete"
        lines = [r.text() for r in self.results if r.status != "unchanged"]
        lines.append(
            f"{head}: {s['converged']} converged, {s['unchanged']} unchanged, {s['stale']} stale, "
            f"{s['failed']} failed ({self.elapsed:.1f} s)."
        )
        if self.journal:
            lines.append(f"Journal: {self.journal}")
        return lines
