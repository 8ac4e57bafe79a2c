"""What a plan knows about the run that made it, beside its image sets: typed fields of ``Plan`` (no
free-form dict), each kept out of the plan's equality (two plans of the same changes are equal whenever
they were made).

- ``RunInfo``: when the run started (a drift state is written as of then) and ended, whether it used a
  drift state (``--state``, ``--no-archive-reads``), the notes of resolving its targets, and the keyed
  selector digests a drift state keeps.
- ``StateInfo``: what the reports say about the drift state of the run (no patient data).
- ``Retarget``: a document whose ``target.imageSetId`` names an image set the plan replaces.
- ``WriteRates``: the write rates the plan's time estimate assumes, and where they come from.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class RunInfo:
    started_at: float = 0.0  # epoch seconds
    created_at: float | None = None  # when the plan was complete (a saved plan's "created_at")
    incremental: bool = False  # image sets may have been left unread (a drift state, --no-archive-reads)
    notes: tuple[str, ...] = ()  # what resolving the targets found worth saying (IDs and file:line only)
    warnings: tuple[str, ...] = ()  # what planning the image sets found worth a warning (IDs only)
    # selector digest -> (datastore, image set IDs found): what a drift state written by this run keeps
    selectors: Mapping[str, tuple[str, frozenset[str]]] = field(default_factory=dict)


@dataclass(frozen=True)
class StateInfo:
    """The drift state of the run: where it lives, what opening it found, how many image sets it knew."""

    location: str
    status: str  # used, missing, unusable, refresh
    problem: str | None
    known: int

    def as_dict(self) -> dict[str, Any]:
        return {"location": self.location, "status": self.status, "problem": self.problem, "known": self.known}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> StateInfo:
        problem = d.get("problem")
        return cls(str(d["location"]), str(d["status"]), None if problem is None else str(problem), int(d["known"]))


@dataclass(frozen=True)
class Retarget:
    """A document whose ``target.imageSetId`` names an image set the plan replaces (IDs and file:line only)."""

    source: str  # "file:line" of the document's target.imageSetId
    datastore_id: str
    image_set_id: str

    def message(self) -> str:
        return (f"{self.source}: target.imageSetId: image set {self.image_set_id} is replaced, and its promoted "
                "copy gets a new image set ID (known after apply), so this target will not find it. Re-target "
                "it: `select: {DICOMStudyInstanceUID: ...}` finds the new image set (`reconciler import "
                "--target-by study` writes such a spec), or set imageSetId to the new ID that apply reports.")


@dataclass(frozen=True)
class WriteRates:
    """Requests per second of UpdateImageSetMetadata, CopyImageSet and DeleteImageSet that the plan's ETA
    assumes, and their BASIS: ``documented``, ``learned`` (for the account), ``--rate``, ``local``."""

    update: float
    copy: float
    delete: float
    basis: str = ""

    def as_dict(self) -> dict[str, Any]:
        return {"update": self.update, "copy": self.copy, "delete": self.delete, "basis": self.basis}

    @classmethod
    def from_dict(cls, d: Any) -> WriteRates | None:
        """The saved form, or None when it is missing or malformed (an older plan file)."""
        try:
            return cls(float(d["update"]), float(d["copy"]), float(d["delete"]), str(d.get("basis", "")))
        except (KeyError, TypeError, ValueError, AttributeError):
            return None
