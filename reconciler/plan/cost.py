"""What a run cost the service: requests by kind, and how many image sets a metadata read moved out of
the archive tier.

GetImageSetMetadata moves an image set from ``ARCHIVE_INSTANT_ACCESS`` back to ``FREQUENT_ACCESS``
(about $0.006 vs $0.105 per GB-month at the example prices); GetImageSet and SearchImageSets do not
(https://docs.aws.amazon.com/healthimaging/latest/devguide/cost-optimization.html). The planner reads the
tier before the metadata (from the search summary or GetImageSet), so a tier-up is counted, not guessed.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

OPERATIONS = {
    "metadata_reads": ("GetImageSetMetadata",),
    "image_set_reads": ("GetImageSet",),
    "search_pages": ("SearchImageSets",),
    # a replacement also writes with CopyImageSet and DeleteImageSet (each its own 0.25/s quota)
    "writes": ("UpdateImageSetMetadata", "CopyImageSet", "DeleteImageSet"),
}


@dataclass(frozen=True)
class Cost:
    """Requests of a run (each page and each request once; retries not counted again), and tier-ups."""

    metadata_reads: int = 0
    tier_ups: int = 0  # image sets read from ARCHIVE_INSTANT_ACCESS, now back in FREQUENT_ACCESS
    writes: int = 0  # UpdateImageSetMetadata, CopyImageSet and DeleteImageSet requests
    image_set_reads: int = 0  # GetImageSet
    search_pages: int = 0  # SearchImageSets pages

    def as_dict(self) -> dict[str, int]:
        return dict(self.__dict__)


def cost_of(calls: Mapping[str, int], retries: Mapping[str, int], tier_ups: int) -> Cost:
    """A run's cost from the client's counters (requests sent, of which retries) and the counted tier-ups."""
    counts = {name: sum(calls.get(op, 0) - retries.get(op, 0) for op in ops) for name, ops in OPERATIONS.items()}
    return Cost(tier_ups=tier_ups, **counts)
