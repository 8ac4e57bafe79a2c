"""The plan as small immutable values. Paths are tuples; they become strings only when rendered.

The apply layer consumes ``ImageSetPlan.requests`` exactly; the renderers consume ``changes``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

Path = tuple[str, ...]
Op = Literal["add", "change", "remove"]
Check = Literal["ok", "needs force", "forbidden"]
Action = Literal["update", "none", "error"]


@dataclass(frozen=True)
class Change:
    op: Op
    path: Path  # e.g. ("Patient", "DICOM", "PatientName")
    before: Any  # live value (None for add); raw, redaction happens at render time
    after: Any  # desired value (None for remove)
    check: Check = "ok"
    reason: str | None = None  # why it needs force / is forbidden (never holds a value)


@dataclass(frozen=True)
class UpdateRequest:
    """One UpdateImageSetMetadata call: the exact JSON bytes of each blob, and the force flag."""

    updatable: bytes | None
    removable: bytes | None
    force: bool


@dataclass(frozen=True)
class ImageSetPlan:
    datastore_id: str
    image_set_id: str
    version_id: str | None  # the version read; every request is guarded by it (then by its successors)
    action: Action
    force: bool = False
    changes: tuple[Change, ...] = ()
    requests: tuple[UpdateRequest, ...] = ()
    error: str | None = None
    sources: tuple[str, ...] = ()  # "file:line" of the spec documents behind this image set


@dataclass(frozen=True)
class Plan:
    image_sets: tuple[ImageSetPlan, ...]
    spec_digest: str = ""  # sha256 over the spec files it came from
    meta: dict[str, Any] = field(default_factory=dict, compare=False)
