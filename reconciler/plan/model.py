"""The plan as small immutable values. Paths are tuples; they become strings only when rendered.

The apply layer consumes ``ImageSetPlan.requests`` exactly; the renderers consume ``changes``.

Primary image sets (https://docs.aws.amazon.com/healthimaging/latest/devguide/update-image-set-metadata.html):
a change a primary refuses has the check ``refused on primary``; study-level changes of a primary whose
study has other primary image sets go out as a study-wide request (``UpdateRequest.study``), whose
owner lists every other image set it touches (``ImageSetPlan.study_members``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from reconciler.api import ARCHIVE_TIER, BackendIdentity
from reconciler.plan.binding import SpecBinding
from reconciler.plan.cost import Cost
from reconciler.plan.runinfo import Retarget, RunInfo, StateInfo, WriteRates

Path = tuple[str, ...]
Op = Literal["add", "change", "remove"]
Check = Literal["ok", "needs force", "forbidden", "refused on primary"]
Action = Literal["update", "none", "error", "replace"]


@dataclass(frozen=True)
class Change:
    op: Op
    path: Path  # e.g. ("Patient", "DICOM", "PatientName")
    before: Any  # live value (None for add); raw, redaction happens at render time
    after: Any  # desired value (None for remove)
    check: Check = "ok"
    reason: str | None = None  # why it needs force / is forbidden (never holds a value)
    force_in_spec: bool = False  # for "needs force": whether the spec that asks for it has force: true
    node: bool = False  # True when the change removes a whole series or instance (removable ``{}``)
    vr: str | None = None  # the VR used to compare (and, for a new private tag, sent in DICOMVRs)
    source: str | None = None  # "file:line" of the spec line that asks for it (None: not from a spec)


@dataclass(frozen=True)
class UpdateRequest:
    """One UpdateImageSetMetadata call: the exact JSON bytes of each blob, and the force flag."""

    updatable: bytes | None
    removable: bytes | None
    force: bool
    study: bool = False  # includeStudyImageSets: every primary image set of the study gets it, atomically


@dataclass(frozen=True)
class StudyMember:
    """An image set a study-wide request touches besides the one it is sent to, and the version it was
    read at (apply checks it is still there before sending, then verifies the image set)."""

    image_set_id: str
    version_id: str


@dataclass(frozen=True)
class Move:
    """A series or instance the spec names by its old UID that live holds under a new one (the spec sets
    that new SeriesInstanceUID / SOPInstanceUID, and a forced update re-keyed the node). The plan's
    changes address it at ``live_path``, like terraform's ``moved``."""

    spec_path: Path  # ("Study", "Series", S) or (..., "Instances", I), as the spec names it
    live_path: Path  # the same node as live keys it

    @property
    def level(self) -> str:
        return "Instance" if self.spec_path[-2] == "Instances" else "Series"


@dataclass(frozen=True)
class Unread:
    """Why an image set's metadata was not read, and what is known of it instead.

    ``state``: the drift state verified it in sync at ``version`` (at ``verified_at``), that is still its
    version, and the desired subtree is the one it was verified against. ``archived``: it is in the archive
    tier and its version has not moved (``--no-archive-reads``): reading it would move it back to frequent
    access, so it is reported unverified.
    """

    reason: Literal["state", "archived"]
    version: str
    verified_at: float | None = None


@dataclass(frozen=True)
class Membership:
    """A ``select`` target whose image sets differ from the ones the drift state recorded for it."""

    source: str  # "file:line" of the document
    datastore_id: str
    key: str  # the selector's key (never its value: patient data)
    joined: tuple[str, ...]
    left: tuple[tuple[str, str], ...]  # (image set ID, "deleted" or "no longer matches")


@dataclass(frozen=True)
class Replacement:
    """How a primary image set gets changes it refuses in place (action ``replace``), as AWS documents for
    primary image sets (https://docs.aws.amazon.com/healthimaging/latest/devguide/update-image-set-metadata.html):
    CopyImageSet to a non-primary copy; the plan's ``requests`` sent to that copy; DeleteImageSet of the
    primary; CopyImageSet of the copy with ``promoteToPrimary`` (a new image set ID); DeleteImageSet of the
    copy. The document behind it opted in (``replace: allow``); without that key the change is a plan error."""

    sources: tuple[str, ...]  # "file:line" of the ``replace: allow`` key(s) that allow it
    paths: tuple[Path, ...]  # the changes a primary refuses in place (paths only, never values)
    # every primary image set of the study replaced together with this one (itself included, sorted);
    # empty: replaced alone (``reconciler.plan.group``)
    group: tuple[str, ...] = ()
    group_requests: int = 0  # the UpdateImageSetMetadata requests of every member of the group

    @property
    def grouped(self) -> bool:
        return len(self.group) > 1

    @property
    def writes(self) -> int:
        """Writes besides the updates of the copy: copy, delete primary, promote, delete copy; in a group
        also the pristine copy of the original and its deletion (what a failed group promotes back)."""
        return 6 if self.grouped else 4


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
    # The merged desired subtree (all documents targeting this image set), so that a saved plan can be
    # verified after apply without the spec files. Raw values: holds patient data, never logged.
    desired: Mapping[str, Any] = field(default_factory=dict, compare=False, repr=False)
    study: str | None = None  # live StudyInstanceUID, to group totals per study (rendered redacted)
    is_primary: bool | None = None  # from GetImageSet / SearchImageSets; None when the service does not say
    # the image set's study-wide requests (``UpdateRequest.study``) also update these, atomically
    study_members: tuple[StudyMember, ...] = ()
    # its study-level changes go out with the study-wide request of this image set (of the same plan);
    # apply runs it after that one, guarded by the versions that request made
    study_owner: str | None = None
    moves: tuple[Move, ...] = ()  # spec nodes that live holds under a new UID
    # plan-time only (not saved): False when a document behind its study-level changes says
    # ``studyWide: false``
    study_wide: bool = field(default=True, compare=False, repr=False)

    unread: Unread | None = None  # not read this run (a drift state, or --no-archive-reads), and why
    tier_before: str | None = None  # storage tier seen before its metadata was read (None: not read)
    # action "replace": why and by whose leave; its ``requests`` go to the non-primary copy
    replacement: Replacement | None = None
    # plan-time only (not saved): what the planner warns about this image set (IDs and paths, never values)
    warnings: tuple[str, ...] = field(default=(), compare=False, repr=False)

    @property
    def study_requests(self) -> int:
        """How many of its requests are study-wide (each gives every member one new version)."""
        return sum(r.study for r in self.requests)


@dataclass(frozen=True)
class Targeting:
    """What ``--target``/``--exclude`` left out of a plan: the arguments as given, and the image sets
    (datastoreId, imageSetId) the specs target that were neither read nor planned."""

    targets: tuple[str, ...] = ()
    excludes: tuple[str, ...] = ()
    left_out: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class Plan:
    image_sets: tuple[ImageSetPlan, ...]
    spec_digest: str = ""  # sha256 over the spec files it came from
    run: RunInfo = field(default_factory=RunInfo, compare=False)  # when, how (drift state), notes
    # the backend it was made against: recorded when the plan is saved, checked when it is applied
    backend: BackendIdentity | None = None
    targeting: Targeting | None = None  # None: every image set the specs target was planned
    # the fingerprints its values were shown with (sha256 of a value -> HASH), kept in a saved plan so
    # that `show` and `apply PLANFILE` print the plan's own; never the key that made them
    fingerprints: Mapping[str, str] = field(default_factory=dict, compare=False, repr=False)
    membership: tuple[Membership, ...] = ()  # selectors that lost or gained image sets since the drift state
    cost: Cost | None = None  # what the run that made the plan asked of the service (kept in a saved plan)
    # imageSetId targets that will not find their replaced image set (kept in a saved plan: show and apply warn)
    retargets: tuple[Retarget, ...] = field(default=(), compare=False)
    state: StateInfo | None = field(default=None, compare=False)  # the drift state of the run, if any
    specs: SpecBinding | None = field(default=None, compare=False)  # the spec files (and commit) it was made from
    rates: WriteRates | None = field(default=None, compare=False)  # the write rates its ETA assumes

    @property
    def request_count(self) -> int:
        return sum(len(p.requests) for p in self.image_sets)

    @property
    def has_changes(self) -> bool:
        return any(p.action in ("update", "replace") for p in self.image_sets)

    @property
    def has_errors(self) -> bool:
        return any(p.action == "error" for p in self.image_sets)

    @property
    def tier_ups(self) -> int:
        """Image sets whose metadata this plan read while they were in the archive tier (so moved back)."""
        return sum(1 for p in self.image_sets if p.tier_before == ARCHIVE_TIER)

    @property
    def has_drift(self) -> bool:
        """Live differs from the specs: a change pending, or a selector that lost or gained image sets."""
        return self.has_changes or bool(self.membership)
