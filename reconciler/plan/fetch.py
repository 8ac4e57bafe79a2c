"""Reads for the plan: each targeted image set's live metadata at one version (``plan.targets`` finds them).

Per image set: ``GetImageSet`` (version and state), then ``GetImageSetMetadata`` at exactly that
version, so the plan and its ``latestVersionId`` guard refer to the same document. ``select`` targets
take their versions from ``SearchImageSets`` (every page) and skip ``GetImageSet``. Either read says
whether the image set is primary (``isPrimary``), which decides what an update may change:
https://docs.aws.amazon.com/healthimaging/latest/devguide/update-image-set-metadata.html
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from reconciler.api import HealthImagingAPI
from reconciler.errors import NotFound, ReconcilerError, ServiceError
from reconciler.spec.model import SpecDocument


@dataclass(frozen=True)
class Work:
    """One image set to plan, with every spec document that targets it."""

    datastore_id: str
    image_set_id: str
    version: str | None  # known from SearchImageSets, else read with GetImageSet
    docs: tuple[SpecDocument, ...]
    is_primary: bool | None = None  # from the same SearchImageSets summary as ``version``


@dataclass(frozen=True)
class Live:
    """One image set as read for the plan: its version, whether it is primary, its metadata there."""

    version: str
    is_primary: bool | None
    document: dict[str, Any]


class ReadError(ReconcilerError):
    """An image set could not be read (missing, locked, deleted): an error for that image set only."""


def read_live(
    api: HealthImagingAPI,
    work: Work,
    lock_wait: float = 60.0,
    poll: float = 1.0,
    sleep: Callable[[float], None] = time.sleep,
) -> tuple[str, dict[str, Any]]:
    """(version, metadata document). Waits up to ``lock_wait`` seconds for a LOCKED image set."""
    found = read_image_set(api, work, lock_wait, poll, sleep)
    return found.version, found.document


def read_image_set(
    api: HealthImagingAPI,
    work: Work,
    lock_wait: float = 60.0,
    poll: float = 1.0,
    sleep: Callable[[float], None] = time.sleep,
) -> Live:
    """The image set's version, primary flag and metadata (see ``read_live``)."""
    ds, iset = work.datastore_id, work.image_set_id
    try:
        version, primary = work.version, work.is_primary
        if version is None:
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
            version, primary = info.version_id, info.is_primary
        return Live(version, primary, api.get_image_set_metadata(ds, iset, version=version))
    except NotFound:
        raise ReadError(not_found(api, ds, iset)) from None
    except ServiceError as exc:
        if exc.code in ("ConflictException",):
            raise ReadError(f"image set {iset} could not be read: {exc.code}") from None
        raise


def not_found(api: HealthImagingAPI, datastore_id: str, image_set_id: str) -> str:
    """Why an image set cannot be found: its datastore does not exist (one ``GetDatastore``), or it does
    not. HealthImaging answers ResourceNotFoundException for both."""
    get_datastore = getattr(api, "get_datastore", None)  # not in the protocol: a test double may lack it
    if get_datastore is not None:
        try:
            get_datastore(datastore_id)
        except NotFound:
            return f"datastore {datastore_id} does not exist (so image set {image_set_id} cannot be read)"
        except ReconcilerError:  # e.g. not allowed to call GetDatastore: say what is known
            pass
    return f"image set {image_set_id} was not found in datastore {datastore_id}"
