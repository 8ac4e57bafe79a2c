"""What a datastore holds (``reconciler ls``), read without moving any image set out of the archive tier.

Rows come from SearchImageSets (every page; a page holds at most 50 summaries) and one GetImageSet per
image set (version, state, primary flag, storage tier). Neither read counts as an access for the storage
tier; GetImageSetMetadata does, and moves an image set in Archive Instant Access back to Frequent Access
(https://docs.aws.amazon.com/healthimaging/latest/devguide/cost-optimization.html). So the series and
instance counts come from the search summary (``DICOMNumberOfStudyRelatedSeries`` and
``DICOMNumberOfStudyRelatedInstances``,
https://docs.aws.amazon.com/healthimaging/latest/APIReference/API_DICOMTags.html); ``counts=True``
counts the nodes of each image set's metadata instead: exact, at the price of that move.
"""

from __future__ import annotations

from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from reconciler.api import HealthImagingAPI, ImageSetInfo, SearchHit
from reconciler.errors import NotFound

SERIES_TAG = "DICOMNumberOfStudyRelatedSeries"
INSTANCES_TAG = "DICOMNumberOfStudyRelatedInstances"


@dataclass(frozen=True)
class ImageSetRow:
    """One image set of a listing. ``tags`` are the search summary's DICOMTags: raw patient data,
    redacted when rendered."""

    info: ImageSetInfo
    series: int | None
    instances: int | None
    tags: Mapping[str, Any] = field(default_factory=dict, repr=False)


def inventory(
    api: HealthImagingAPI,
    datastore_id: str,
    select: tuple[str, str] | None = None,
    *,
    counts: bool = False,
    parallelism: int = 8,
) -> list[ImageSetRow]:
    """Every image set of the datastore (or those the ``select`` equality search finds), by image set ID.
    With ``counts`` the metadata of each is read (see the module docstring for what that costs)."""
    hits = list(api.search_image_sets(datastore_id, *select) if select else api.list_image_sets(datastore_id))
    with ThreadPoolExecutor(max_workers=max(1, parallelism)) as pool:
        rows = list(pool.map(lambda hit: _row(api, datastore_id, hit, counts), hits))
    return sorted((r for r in rows if r is not None), key=lambda r: r.info.image_set_id)


def _row(api: HealthImagingAPI, datastore_id: str, hit: SearchHit, counts: bool) -> ImageSetRow | None:
    try:
        info = api.get_image_set(datastore_id, hit.image_set_id)
        tags = dict(hit.dicom_tags or {})
        if not counts:
            return ImageSetRow(info, _count(tags.get(SERIES_TAG)), _count(tags.get(INSTANCES_TAG)), tags)
        doc = api.get_image_set_metadata(datastore_id, hit.image_set_id, version=info.version_id)
    except NotFound:  # deleted between the search and this read: not there any more
        return None
    series, instances = count_nodes(doc)
    return ImageSetRow(info, series, instances, tags)


def count_nodes(doc: Mapping[str, Any]) -> tuple[int, int]:
    """(series, instances) of a metadata document."""
    study = doc.get("Study")
    series = study.get("Series") if isinstance(study, Mapping) else None
    if not isinstance(series, Mapping):
        return 0, 0
    instances = sum(len(s.get("Instances") or {}) for s in series.values() if isinstance(s, Mapping))
    return len(series), instances


def _count(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None
