"""Reads for the plan: each targeted image set's live metadata at one version (``plan.targets`` finds them).

Per image set: ``GetImageSet`` (version and state), then ``GetImageSetMetadata`` at exactly that
version, so the plan and its ``latestVersionId`` guard refer to the same document. ``select`` targets
take their versions from ``SearchImageSets`` (every page) and skip ``GetImageSet``; so do image sets whose
version a drift state and the service's list of what changed already tell (``plan.incremental``). Either
read says whether the image set is primary (``isPrimary``), which decides what an update may change:
https://docs.aws.amazon.com/healthimaging/latest/devguide/update-image-set-metadata.html

The metadata read is the one that costs: it moves an archived image set back to frequent access. So it
is skipped when the version (from the search, or GetImageSet, which leaves the tier alone) shows that the
drift state's verification still holds, or, with ``--no-archive-reads``, when the image set is archived
and its version has not moved (https://docs.aws.amazon.com/healthimaging/latest/devguide/cost-optimization.html).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from reconciler.api import ARCHIVE_TIER, HealthImagingAPI
from reconciler.errors import NotFound, ReconcilerError, ServiceError
from reconciler.plan.model import Unread
from reconciler.spec.model import SpecDocument


@dataclass(frozen=True)
class Since:
    """What a drift state knows of an image set: verified in sync at ``version`` (at ``verified_at``), and
    whether the desired subtree is still the one it was verified against."""

    version: str
    verified_at: float
    same_desired: bool


@dataclass(frozen=True)
class Work:
    """One image set to plan, with every spec document that targets it."""

    datastore_id: str
    image_set_id: str
    version: str | None  # known from SearchImageSets (or a drift state), else read with GetImageSet
    docs: tuple[SpecDocument, ...]
    is_primary: bool | None = None  # from the same SearchImageSets summary as ``version``
    tier: str | None = None  # the storage tier, when the search that gave the version said it
    since: Since | None = None
    skip_archived: bool = False  # --no-archive-reads


@dataclass(frozen=True)
class Live:
    """What was read of one image set: its version, tier and primary flag, and its metadata unless
    ``unread`` says why not."""

    version: str
    tier: str | None
    document: dict[str, Any] | None = None
    unread: Unread | None = None
    is_primary: bool | None = None  # None when the service does not say


class ReadError(ReconcilerError):
    """An image set could not be read (missing, locked, deleted): an error for that image set only."""


def unread(work: Work, version: str | None, tier: str | None) -> Unread | None:
    """Why the metadata of WORK at VERSION (in TIER) need not be read, or None: it must be."""
    since = work.since
    if version is None:
        return None
    if since is not None and since.same_desired and version == since.version:
        return Unread("state", version, since.verified_at)
    if work.skip_archived and tier == ARCHIVE_TIER and (since is None or version == since.version):
        return Unread("archived", version, since.verified_at if since is not None else None)
    return None


def read_live(
    api: HealthImagingAPI,
    work: Work,
    lock_wait: float = 60.0,
    poll: float = 1.0,
    sleep: Callable[[float], None] = time.sleep,
) -> Live:
    """The version and tier of WORK's image set, and its metadata at that version unless it need not be read
    (``unread``). Waits up to ``lock_wait`` seconds for a LOCKED image set."""
    ds, iset = work.datastore_id, work.image_set_id
    try:
        version, tier, primary = work.version, work.tier, work.is_primary
        if version is None or tier is None:  # the tier is known before the metadata read (GetImageSet keeps it)
            info = api.get_image_set(ds, iset)
            waited = 0.0
            while info.state == "LOCKED" and waited < lock_wait:
                step = min(poll, lock_wait - waited)
                sleep(step)
                waited += step
                info = api.get_image_set(ds, iset)
            if info.state == "LOCKED":
                raise ReadError(f"image set {iset} is still LOCKED after {lock_wait:g} s (an update is running)",
                                hint="plan again when it is ACTIVE")
            if info.state == "DELETED":
                raise ReadError(f"image set {iset} is DELETED")
            version, tier, primary = info.version_id, info.storage_tier, info.is_primary
        skip = unread(work, version, tier)
        if skip is not None:
            return Live(version, tier, unread=skip, is_primary=primary)
        return Live(version, tier, api.get_image_set_metadata(ds, iset, version=version), is_primary=primary)
    except NotFound:
        raise ReadError(not_found(api, ds, iset)) from None
    except ServiceError as exc:
        if exc.code in ("ConflictException",):
            raise ReadError(f"image set {iset} could not be read: {exc.code}") from None
        raise


def not_found(api: HealthImagingAPI, datastore_id: str, image_set_id: str) -> str:
    """Why an image set cannot be found: its datastore does not exist (one ``GetDatastore``), or it does
    not. HealthImaging answers ResourceNotFoundException for both."""
    try:
        api.get_datastore(datastore_id)
    except NotFound:
        return f"datastore {datastore_id} does not exist (so image set {image_set_id} cannot be read)"
    except ReconcilerError:  # e.g. not allowed to call GetDatastore: say what is known
        pass
    return f"image set {image_set_id} was not found in datastore {datastore_id}"
