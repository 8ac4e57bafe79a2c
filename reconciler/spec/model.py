"""What a loaded spec is: small immutable values the planner consumes.

A spec document's ``desired`` tree is the image-set metadata tree exactly as written (strings stay
strings, numbers stay numbers, ``None`` means "must be absent"). Source positions are kept beside it,
keyed by path tuples, so any later layer (the planner too) can point at a file and line.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

Path = tuple[str, ...]
"""A path inside a metadata tree, e.g. ("Study", "Series", "1.2.3", "DICOM", "Modality")."""

Severity = Literal["error", "warning"]


def format_path(path: Path) -> str:
    """``("desired","Study","Series","1.2","DICOM","X")`` -> ``desired.Study.Series[1.2].DICOM.X``.

    UIDs hold dots, so series and instance keys go in brackets; the empty path is ``(document)``.
    """
    parts: list[str] = []
    for i, part in enumerate(path):
        if i > 0 and path[i - 1] in ("Series", "Instances") and parts:
            parts[-1] += f"[{part}]"
        else:
            parts.append(part)
    return ".".join(parts) if parts else "(document)"


@dataclass(frozen=True)
class SourcePos:
    file: str
    line: int  # 1-based
    column: int  # 1-based


def nearest_position(positions: Mapping[Path, SourcePos], path: Path, fallback: SourcePos) -> SourcePos:
    """The position of ``path``, else of its nearest ancestor that has one, else ``fallback``.

    A finding about a value the loader holds no position for (a list item's key, an SQ item's
    attribute written inline) points at the closest enclosing key instead.
    """
    p = path
    while p:
        pos = positions.get(p)
        if pos is not None:
            return pos
        p = p[:-1]
    return fallback


@dataclass(frozen=True)
class Diagnostic:
    """One finding of validation (or of planning against a spec). Never holds an attribute value."""

    file: str
    line: int
    column: int
    path: Path
    message: str
    severity: Severity = "error"

    def render(self) -> str:
        """``FILE:LINE:COLUMN: PATH: message`` (warnings say so before the message)."""
        label = "warning: " if self.severity == "warning" else ""
        return f"{self.file}:{self.line}:{self.column}: {format_path(self.path)}: {label}{self.message}"


@dataclass(frozen=True)
class Target:
    """Either one image set, or every image set a SearchImageSets equality key finds."""

    datastore_id: str
    image_set_id: str | None = None
    select: tuple[str, str] | None = None  # (KEY, VALUE), e.g. ("DICOMPatientId", "P1")
    allow_empty: bool = False  # a ``select`` that finds no image set is fine (``target.allowEmpty``)


@dataclass(frozen=True)
class SpecDocument:
    """One YAML document of kind ImageSetMetadata, validated."""

    file: str
    index: int  # 0-based document number within the file
    target: Target
    force: bool
    desired: Mapping[str, Any]
    positions: Mapping[Path, SourcePos] = field(default_factory=dict, compare=False, repr=False)
    line: int = 1  # line where the document starts
    # ``studyWide: false``: its study-level changes of a primary image set go to that image set alone,
    # not to every primary image set of the study (includeStudyImageSets)
    study_wide: bool = True
    # ``replace: allow``: a change a primary image set refuses in place is made by replacing the image set
    # (copy, update the copy, delete the primary, promote the copy); the key's own position, for messages
    replace: SourcePos | None = None
    # positions of the ``target`` keys, keyed by target-relative path, e.g. ("select", "DICOMPatientId")
    target_positions: Mapping[Path, SourcePos] = field(default_factory=dict, compare=False, repr=False)

    def position(self, path: Path) -> SourcePos:
        """The closest known source position for ``path`` (walking up to the document)."""
        return nearest_position(self.positions, path, SourcePos(self.file, self.line, 1))

    def target_position(self, path: Path) -> SourcePos:
        """The source position of a key under ``target`` (walking up to ``target``, then the document)."""
        fallback = self.target_positions.get((), SourcePos(self.file, self.line, 1))
        return nearest_position(self.target_positions, path, fallback)
