"""The HealthImaging operations the reconciler uses, as plain typed values.

``reconciler.client.healthimaging.HealthImaging`` implements ``HealthImagingAPI`` with boto3 (real AWS,
a custom endpoint, or the in-process emulator). Everything above it (plan, apply, import, history)
depends on this protocol only, so unit tests can hand in a fake and no layer but ``reconciler.client``
imports boto3.
All methods raise ``reconciler.errors`` exceptions, never botocore ones.
"""

from __future__ import annotations

import threading
from collections.abc import Collection, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

from reconciler.padding import unpad

# Storage tiers (https://docs.aws.amazon.com/healthimaging/latest/devguide/cost-optimization.html): a
# GetImageSetMetadata read moves an image set from the archive tier back to frequent access.
FREQUENT_TIER = "FREQUENT_ACCESS"
ARCHIVE_TIER = "ARCHIVE_INSTANT_ACCESS"
STUDY_KEY = "DICOMStudyInstanceUID"  # the SearchImageSets key that finds the image sets of one study


@dataclass(frozen=True)
class ImageSetInfo:
    """GetImageSet (and one row of ListImageSetVersions)."""

    datastore_id: str
    image_set_id: str
    version_id: str
    state: str  # ACTIVE | LOCKED | DELETED
    workflow_status: str | None = None  # UPDATED, UPDATE_FAILED, ...
    message: str | None = None
    created_at: float | None = None  # epoch seconds
    updated_at: float | None = None
    forced: bool = False
    is_primary: bool | None = None
    storage_tier: str | None = None  # FREQUENT_ACCESS | ARCHIVE_INSTANT_ACCESS (GetImageSet only)
    deleted_at: float | None = None  # epoch seconds, once the image set is DELETED


@dataclass(frozen=True)
class UpdateResult:
    """The answer to UpdateImageSetMetadata: the new version, normally LOCKED/UPDATING."""

    datastore_id: str
    image_set_id: str
    latest_version_id: str
    state: str
    workflow_status: str | None = None
    message: str | None = None


@dataclass(frozen=True)
class CopyResult:
    """The answer to CopyImageSet: the source (at its version) and the destination (a new image set at
    version 1, or the destination's new version), both normally LOCKED while the copy runs."""

    datastore_id: str
    source: ImageSetInfo  # version_id: the source's latestVersionId
    destination: ImageSetInfo  # version_id: the destination's latestVersionId


@dataclass(frozen=True)
class SearchHit:
    """One SearchImageSets summary."""

    image_set_id: str
    version: str  # the model has an integer; we keep versions as strings everywhere
    updated_at: float | None = None
    dicom_tags: Mapping[str, Any] | None = None  # holds patient data: never logged
    is_primary: bool | None = None  # None when the service does not say (before primary image sets)
    created_at: float | None = None
    storage_tier: str | None = None

    @property
    def study(self) -> str | None:
        """The StudyInstanceUID of the summary, if it has one."""
        uid = (self.dicom_tags or {}).get("DICOMStudyInstanceUID")
        return unpad(uid) or None if isinstance(uid, str) else None


@dataclass(frozen=True)
class DatastoreInfo:
    """GetDatastore / one ListDatastores summary."""

    datastore_id: str
    name: str
    status: str
    arn: str | None = None
    created_at: float | None = None  # epoch seconds


@dataclass(frozen=True)
class BackendIdentity:
    """Which service a client talks to, so that a saved plan is applied where it was made.

    ``local``: the emulator store at ``location`` (an absolute path); ``endpoint``: the URL at
    ``location``; ``aws``: AWS ``account`` in the region at ``location``. An endpoint's ``region`` (the one
    requests were signed for) is kept so that a saved plan can be applied with the same options, but is no
    part of the identity.
    """

    kind: Literal["local", "endpoint", "aws"]
    location: str
    account: str | None = None
    region: str | None = field(default=None, compare=False)

    def describe(self) -> str:
        if self.kind == "local":
            return f"the local emulator store {self.location}"
        if self.kind == "endpoint":
            return f"the endpoint {self.location}"
        return f"AWS account {self.account} in {self.location}"


class HealthImagingAPI(Protocol):
    def get_image_set(self, datastore_id: str, image_set_id: str, version: str | None = None) -> ImageSetInfo: ...

    def get_image_set_metadata(
        self, datastore_id: str, image_set_id: str, version: str | None = None
    ) -> dict[str, Any]:
        """The metadata document, gunzipped and parsed."""
        ...

    def update_image_set_metadata(
        self,
        datastore_id: str,
        image_set_id: str,
        latest_version: str,
        *,
        updatable: bytes | None = None,
        removable: bytes | None = None,
        force: bool = False,
        cancel: threading.Event | None = None,
        include_study: bool = False,
    ) -> UpdateResult:
        """Raises ``StaleVersion`` on ConflictException for a version guard, and ``Cancelled`` (nothing
        sent) when CANCEL is set before the request goes out, e.g. while it waits for the rate limiter.
        ``include_study``: ``includeStudyImageSets``, one atomic update of every primary image set of the
        study (https://docs.aws.amazon.com/healthimaging/latest/devguide/update-image-set-metadata.html)."""
        ...

    def revert_image_set(
        self, datastore_id: str, image_set_id: str, latest_version: str, to_version: str
    ) -> UpdateResult: ...

    def list_image_set_versions(self, datastore_id: str, image_set_id: str) -> Iterator[ImageSetInfo]:
        """All versions, newest first, every page."""
        ...

    def search_image_sets(self, datastore_id: str, key: str, value: str) -> Iterator[SearchHit]:
        """Every image set whose DICOM equality KEY (e.g. DICOMPatientId) equals VALUE, every page."""
        ...

    def search_updated(self, datastore_id: str, since: float, until: float) -> Iterator[SearchHit]:
        """Every image set updated between SINCE and UNTIL (epoch seconds, inclusive), oldest first, every page."""
        ...

    def list_image_sets(self, datastore_id: str) -> Iterator[SearchHit]:
        """Every image set of the datastore (SearchImageSets with no filter), every page."""
        ...

    def get_datastore(self, datastore_id: str) -> DatastoreInfo:
        """GetDatastore; raises ``NotFound`` when the datastore does not exist."""
        ...

    def copy_image_set(
        self,
        datastore_id: str,
        source_image_set_id: str,
        source_version: str,
        *,
        destination: tuple[str, str] | None = None,
        subset: Mapping[str, Collection[str]] | None = None,
        force: bool = False,
        promote: bool = False,
        cancel: threading.Event | None = None,
    ) -> CopyResult:
        """CopyImageSet of SOURCE_VERSION (guarded) into a new image set, or into DESTINATION (image set ID,
        guarded latest version); PROMOTE makes the new image set primary
        (https://docs.aws.amazon.com/healthimaging/latest/APIReference/API_CopyImageSet.html). The answer
        gives each image set's new latest version: wait for that one, never for an assumed "1"."""
        ...

    def delete_image_set(self, datastore_id: str, image_set_id: str) -> ImageSetInfo:
        """Start deleting an image set (LOCKED/DELETING until it is DELETED); one already deleting answers
        with its current state."""
        ...


def study_image_sets(api: HealthImagingAPI, datastore_id: str, study_uid: str) -> Iterator[SearchHit]:
    """Every image set of one study: SearchImageSets by StudyInstanceUID, every page (DICOM padding of the
    UID as live holds it, trailing spaces or NULs, is not part of the value searched for)."""
    return api.search_image_sets(datastore_id, STUDY_KEY, unpad(study_uid))
