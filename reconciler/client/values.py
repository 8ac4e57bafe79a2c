"""Plain values of the client layer: the call counters and the parsing of HealthImaging responses.

No boto3 here: ``reconciler.client.healthimaging`` hands in the dicts botocore parsed and gets
``reconciler.api`` values.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Mapping
from typing import Any

from reconciler.api import DatastoreInfo, ImageSetInfo, SearchHit


class CallStats:
    """Thread-safe counters per operation: requests sent (every page and retry counts) and retries."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._calls: Counter[str] = Counter()
        self._retries: Counter[str] = Counter()
        self._throttled: Counter[str] = Counter()

    def __getitem__(self, op: str) -> int:
        with self._lock:
            return self._calls[op]

    def add(self, op: str, *, retry: bool = False) -> None:
        with self._lock:
            self._calls[op] += 1
            if retry:
                self._retries[op] += 1

    def calls(self) -> dict[str, int]:
        with self._lock:
            return dict(self._calls)

    def retries(self) -> dict[str, int]:
        with self._lock:
            return dict(self._retries)

    def throttle(self, op: str) -> None:
        """One request of OP was answered ThrottlingException."""
        with self._lock:
            self._throttled[op] += 1

    def throttled(self) -> dict[str, int]:
        with self._lock:
            return dict(self._throttled)



def describe(datastore_id: str, image_set_id: str, version: str | None = None) -> str:
    at = f" version {version}" if version is not None else ""
    return f"image set {image_set_id}{at} in datastore {datastore_id}"


def next_version(version: str) -> str | None:
    return str(int(version) + 1) if version.isdigit() else None


def epoch(value: Any) -> float | None:
    if value is None:
        return None
    if isinstance(value, int | float):
        return float(value)
    stamp: float = value.timestamp()
    return stamp


def image_set_info(item: Mapping[str, Any], datastore_id: str) -> ImageSetInfo:
    overrides = item.get("overrides") or {}
    return ImageSetInfo(
        datastore_id=str(item.get("datastoreId", datastore_id)),
        image_set_id=str(item["imageSetId"]),
        version_id=str(item["versionId"]),
        state=str(item["imageSetState"]),
        # ListImageSetVersions items spell it ImageSetWorkflowStatus, a model quirk:
        # https://docs.aws.amazon.com/healthimaging/latest/APIReference/API_ImageSetProperties.html
        workflow_status=item.get("imageSetWorkflowStatus") or item.get("ImageSetWorkflowStatus"),
        message=item.get("message"),
        created_at=epoch(item.get("createdAt")),
        updated_at=epoch(item.get("updatedAt")),
        forced=bool(overrides.get("forced", False)),
        is_primary=item.get("isPrimary"),
        storage_tier=item.get("storageTier"),
        deleted_at=epoch(item.get("deletedAt")),
    )


def search_hit(item: Mapping[str, Any]) -> SearchHit:
    """One ``ImageSetsMetadataSummary``."""
    return SearchHit(
        image_set_id=str(item["imageSetId"]),
        version=str(item["version"]),
        updated_at=epoch(item.get("updatedAt")),
        dicom_tags=item.get("DICOMTags"),
        is_primary=item.get("isPrimary"),
        created_at=epoch(item.get("createdAt")),
        storage_tier=item.get("storageTier"),
    )


def datastore_info(item: Mapping[str, Any]) -> DatastoreInfo:
    return DatastoreInfo(
        datastore_id=str(item["datastoreId"]),
        name=str(item.get("datastoreName", "")),
        status=str(item.get("datastoreStatus", "")),
        arn=item.get("datastoreArn"),
        created_at=epoch(item.get("createdAt")),
    )
