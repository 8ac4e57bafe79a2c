"""The HealthImaging client: ``HealthImaging`` implements ``reconciler.api.HealthImagingAPI`` on a real
boto3 client, for real AWS, a custom endpoint, or whatever transport answers it (the in-process emulator
for ``--local``). Every request is sent by ``reconciler.client.calls`` (limiter, our own retry loop,
botocore exceptions translated into ``reconciler.errors``); ``reconciler.client.session`` builds it.
"""

from __future__ import annotations

import dataclasses
import math
import random
import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any

from reconciler.api import BackendIdentity, DatastoreInfo, HealthImagingAPI, ImageSetInfo, SearchHit, UpdateResult
from reconciler.client import errors as errs
from reconciler.client.calls import Caller, Trace
from reconciler.client.copying import CopyAndDelete, read_quietly
from reconciler.client.identity import endpoint_identity
from reconciler.client.values import (
    CallStats,
    datastore_info,
    describe,
    image_set_info,
    next_version,
    search_hit,
)
from reconciler.errors import ServiceError, StaleVersion, UsageError
from reconciler.learned import RateMemory
from reconciler.ratelimit import Clock, Pace, RateLimiter, RetryPolicy, Sleep

SEARCH_KEYS = (
    "DICOMPatientId",
    "DICOMAccessionNumber",
    "DICOMStudyId",
    "DICOMStudyInstanceUID",
    "DICOMSeriesInstanceUID",
)


class HealthImaging(CopyAndDelete):
    """HealthImagingAPI over boto3, with pacing, retries and error translation. Thread-safe."""

    def __init__(
        self,
        client: Any,
        *,
        limiter: RateLimiter | None = None,
        retry: RetryPolicy | None = None,
        endpoint: str | None = None,
        identify: Callable[[], BackendIdentity] | None = None,
        clock: Clock = time.monotonic,
        sleep: Sleep = time.sleep,
        rand: Callable[[], float] = random.random,
        memory: RateMemory | None = None,
    ) -> None:
        self.client = client
        self.memory = memory  # the rates learned for this backend, kept between runs (None: not kept)
        # Our loop is the only retry loop, even on a client built elsewhere with botocore's retries on:
        # both botocore retry modes register under this id (botocore/client.py, retries/standard.py).
        client.meta.events.unregister("needs-retry.medical-imaging", unique_id="retry-config-medical-imaging")
        url = str(getattr(getattr(client, "meta", None), "endpoint_url", "AWS"))
        self._caller = Caller(limiter or RateLimiter(clock=clock, sleep=sleep), retry or RetryPolicy(),
                              endpoint or url, clock=clock, sleep=sleep, rand=rand)
        self._identify = identify or (lambda: endpoint_identity(url))
        self._identity: BackendIdentity | None = None

    @property
    def limiter(self) -> RateLimiter:
        return self._caller.limiter

    @limiter.setter
    def limiter(self, limiter: RateLimiter) -> None:
        self._caller.limiter = limiter

    @property
    def retry(self) -> RetryPolicy:
        return self._caller.retry

    @property
    def endpoint(self) -> str:
        """What error messages call the backend: the endpoint URL, or the local store."""
        return self._caller.endpoint

    @property
    def stats(self) -> CallStats:
        return self._caller.stats

    def backend_identity(self) -> BackendIdentity:
        """Which backend this client talks to, for saved plans. Resolved on first use (for real AWS
        that is one STS GetCallerIdentity call), then kept."""
        if self._identity is None:
            self._identity = self._identify()
        return self._identity

    def pacing(self) -> tuple[Pace, ...]:
        """How each paced operation that sent requests was paced, with the ThrottlingExceptions it got."""
        throttled = self.stats.throttled()
        return tuple(dataclasses.replace(p, throttled=throttled.get(p.operation, 0))
                     for p in self.limiter.paces())

    def remember_rates(self) -> bool:
        """Keep the rates this run learned for the next run against the same backend (True when saved)."""
        if self.memory is None:
            return False
        return self.memory.remember(self.limiter.learned_rates())

    # ----------------------------------------------------------------------------- reads

    def get_image_set(self, datastore_id: str, image_set_id: str, version: str | None = None) -> ImageSetInfo:
        params: dict[str, Any] = {"datastoreId": datastore_id, "imageSetId": image_set_id}
        if version is not None:
            params["versionId"] = str(version)
        ctx = describe(datastore_id, image_set_id, version)
        resp = self._caller.call("GetImageSet", ctx, lambda: self.client.get_image_set(**params))
        return image_set_info(resp, datastore_id)

    def get_image_set_metadata(
        self, datastore_id: str, image_set_id: str, version: str | None = None
    ) -> dict[str, Any]:
        params: dict[str, Any] = {"datastoreId": datastore_id, "imageSetId": image_set_id}
        if version is not None:
            params["versionId"] = str(version)
        ctx = describe(datastore_id, image_set_id, version)

        def fetch() -> tuple[bytes, str]:
            resp = self.client.get_image_set_metadata(**params)
            # reading the stream belongs to the attempt: a connection dropped mid-body is retried
            return resp["imageSetMetadataBlob"].read(), str(resp.get("contentEncoding") or "")

        raw, encoding = self._caller.call("GetImageSetMetadata", ctx, fetch)
        return errs.decode_metadata(raw, encoding, ctx)

    def list_image_set_versions(self, datastore_id: str, image_set_id: str) -> Iterator[ImageSetInfo]:
        ctx = describe(datastore_id, image_set_id)
        for page in self._caller.pages(
            "ListImageSetVersions",
            ctx,
            self.client.list_image_set_versions,
            {"datastoreId": datastore_id, "imageSetId": image_set_id},
        ):
            for item in page.get("imageSetPropertiesList", []):
                yield image_set_info(item, datastore_id)

    def search_image_sets(self, datastore_id: str, key: str, value: str) -> Iterator[SearchHit]:
        if key not in SEARCH_KEYS:
            raise UsageError(f"cannot search image sets by {key!r}", hint=f"use one of {', '.join(SEARCH_KEYS)}")
        criteria = {"filters": [{"operator": "EQUAL", "values": [{key: value}]}]}
        ctx = f"datastore {datastore_id} (search by {key})"
        params = {"datastoreId": datastore_id, "searchCriteria": criteria}
        return self._search(ctx, params, [value])

    def list_image_sets(self, datastore_id: str) -> Iterator[SearchHit]:
        """Every image set of the datastore, every page: SearchImageSets without filters (they are optional,
        https://docs.aws.amazon.com/healthimaging/latest/APIReference/API_SearchImageSets.html)."""
        return self._search(f"datastore {datastore_id}", {"datastoreId": datastore_id}, [])

    def _search(self, ctx: str, params: dict[str, Any], sent: list[str]) -> Iterator[SearchHit]:
        for page in self._caller.pages("SearchImageSets", ctx, self.client.search_image_sets, params, sent=sent):
            for item in page.get("imageSetsMetadataSummaries", []):
                yield search_hit(item)

    def search_updated(self, datastore_id: str, since: float, until: float) -> Iterator[SearchHit]:
        # botocore sends these timestamps as whole epoch seconds: widen to whole seconds, never narrow
        low, high = datetime.fromtimestamp(math.floor(since), UTC), datetime.fromtimestamp(math.ceil(until), UTC)
        criteria = {"filters": [{"operator": "BETWEEN", "values": [{"updatedAt": low}, {"updatedAt": high}]}],
                    "sort": {"sortField": "updatedAt", "sortOrder": "ASC"}}
        ctx = f"datastore {datastore_id} (search by updatedAt)"
        return self._search(ctx, {"datastoreId": datastore_id, "searchCriteria": criteria}, [])

    def get_datastore(self, datastore_id: str) -> DatastoreInfo:
        ctx = f"datastore {datastore_id}"
        resp = self._caller.call("GetDatastore", ctx, lambda: self.client.get_datastore(datastoreId=datastore_id))
        return datastore_info(resp["datastoreProperties"])

    def list_datastores(self) -> Iterator[DatastoreInfo]:
        for page in self._caller.pages("ListDatastores", "the datastores", self.client.list_datastores, {}):
            for item in page.get("datastoreSummaries", []):
                yield datastore_info(item)

    # ----------------------------------------------------------------------------- writes

    def create_datastore(self, name: str) -> str:
        """Create a datastore; return its ID (it may still be CREATING)."""
        resp = self._caller.call(
            "CreateDatastore", f"datastore {name!r}", lambda: self.client.create_datastore(datastoreName=name)
        )
        return str(resp["datastoreId"])

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
        if updatable is None and removable is None:
            raise UsageError(f"an update of image set {image_set_id} needs updatable or removable attributes")
        dicom: dict[str, bytes] = {}
        if updatable is not None:
            dicom["updatableAttributes"] = updatable
        if removable is not None:
            dicom["removableAttributes"] = removable
        return self._update(datastore_id, image_set_id, str(latest_version), {"DICOMUpdates": dicom}, force,
                            cancel, include_study)

    def revert_image_set(
        self, datastore_id: str, image_set_id: str, latest_version: str, to_version: str
    ) -> UpdateResult:
        updates = {"revertToVersionId": str(to_version)}
        return self._update(datastore_id, image_set_id, str(latest_version), updates, False)

    def _update(
        self, datastore_id: str, image_set_id: str, latest: str, updates: dict[str, Any], force: bool,
        cancel: threading.Event | None = None, include_study: bool = False,
    ) -> UpdateResult:
        """One guarded UpdateImageSetMetadata.

        A retry after an ambiguous failure (dropped connection, timeout, 5xx) may find that the first
        attempt did land: the guard then answers ConflictException although the write is ours. When
        the image set is exactly one version past the guard after such a failure we take the write as
        ours; the apply layer verifies convergence by reading the metadata back anyway.
        """
        ctx = describe(datastore_id, image_set_id)
        trace = Trace()
        dicom = updates.get("DICOMUpdates", {})
        sent = errs.sent_values(dicom.get("updatableAttributes"), dicom.get("removableAttributes"))

        # includeStudyImageSets only when asked for: a service (or botocore) from before study-wide
        # updates then sees exactly the request it knows
        study = {"includeStudyImageSets": True} if include_study else {}

        def send() -> dict[str, Any]:
            resp: dict[str, Any] = self.client.update_image_set_metadata(
                datastoreId=datastore_id,
                imageSetId=image_set_id,
                latestVersionId=latest,
                force=force,
                updateImageSetMetadataUpdates=updates,
                **study,
            )
            return resp

        try:
            resp = self._caller.call("UpdateImageSetMetadata", ctx, send, trace, sent=sent, cancel=cancel)
        except ServiceError as err:
            if err.code != "ConflictException" or isinstance(err, StaleVersion):
                raise
            return self._resolve_conflict(datastore_id, image_set_id, latest, err, trace)
        return UpdateResult(
            datastore_id=str(resp.get("datastoreId", datastore_id)),
            image_set_id=str(resp.get("imageSetId", image_set_id)),
            latest_version_id=str(resp["latestVersionId"]),
            state=str(resp.get("imageSetState", "")),
            workflow_status=resp.get("imageSetWorkflowStatus"),
            message=resp.get("message"),
        )

    def _resolve_conflict(
        self, datastore_id: str, image_set_id: str, latest: str, err: ServiceError, trace: Trace
    ) -> UpdateResult:
        """Turn a ConflictException on a guarded update into StaleVersion (or our own landed write)."""
        current = read_quietly(self, datastore_id, image_set_id)  # None: reported without the current version
        if current is not None and trace.ambiguous and current.version_id == next_version(latest):
            return UpdateResult(
                datastore_id=datastore_id,
                image_set_id=image_set_id,
                latest_version_id=current.version_id,
                state=current.state,
                workflow_status=current.workflow_status,
                message=current.message,
            )
        if current is not None and current.version_id == latest:
            # same version: not a lost race but a busy image set (LOCKED by an update in progress)
            raise ServiceError(
                f"UpdateImageSetMetadata conflict for {describe(datastore_id, image_set_id)}: "
                f"the image set is {current.state} at version {latest}",
                code="ConflictException",
                status=409,
                hint="wait until it is ACTIVE and retry",
            ) from err
        now = current.version_id if current is not None else None
        raise StaleVersion(
            f"image set {image_set_id} in datastore {datastore_id} changed since it was planned "
            f"(planned version {latest}, current version {now or 'unknown'})",
            planned_version=latest,
            current_version=now,
            hint="plan again to see the new live state",
        ) from err


def _conforms(api: HealthImaging) -> HealthImagingAPI:
    """Never called: mypy checks here that HealthImaging implements the protocol."""
    return api


__all__ = ["SEARCH_KEYS", "CallStats", "DatastoreInfo", "HealthImaging"]
