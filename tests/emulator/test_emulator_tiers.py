"""Storage tiers: ``storageTier`` and ``lastAccessedAt`` on GetImageSet and search summaries, moved by the
operations the cost-optimization page names and not by the others (both transports, fake clock)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from botocore.exceptions import ClientError
from emuhelpers import DS, IS, metadata, update

from reconciler.emulator.knobs import EmulatorConfig

AFTER = 100.0
DAY = 24 * 3600.0


def _tier(client: Any) -> tuple[str, float]:
    got = client.get_image_set(datastoreId=DS, imageSetId=IS)
    return got["storageTier"], got["lastAccessedAt"].timestamp()


def _summary_tier(client: Any) -> tuple[str, float]:
    (summary,) = client.search_image_sets(datastoreId=DS, searchCriteria={})["imageSetsMetadataSummaries"]
    return summary["storageTier"], summary["lastAccessedAt"].timestamp()


@pytest.fixture
def tiered(transport: Any, store_dir: Any, seeded: Any, clock: Any) -> Any:
    return transport(store_dir, EmulatorConfig(archive_after=AFTER), clock)


def test_new_image_set_is_frequent_access_until_the_archive_age(tiered: Any, clock: Any) -> None:
    created = clock()
    assert _tier(tiered) == ("FREQUENT_ACCESS", created)
    assert _summary_tier(tiered) == ("FREQUENT_ACCESS", created)
    clock.advance(AFTER - 1)
    assert _tier(tiered) == ("FREQUENT_ACCESS", created)
    clock.advance(1)
    assert _tier(tiered) == ("ARCHIVE_INSTANT_ACCESS", created)
    assert _summary_tier(tiered) == ("ARCHIVE_INSTANT_ACCESS", created)


def test_default_archive_age_is_30_days(transport: Any, store_dir: Any, seeded: Any, clock: Any) -> None:
    client = transport(store_dir, None, clock)
    clock.advance(30 * DAY - 1)
    assert _tier(client)[0] == "FREQUENT_ACCESS"
    clock.advance(1)
    assert _tier(client)[0] == "ARCHIVE_INSTANT_ACCESS"


NOT_ACCESS: dict[str, Callable[[Any], Any]] = {
    "GetImageSet": lambda c: c.get_image_set(datastoreId=DS, imageSetId=IS),
    "SearchImageSets": lambda c: c.search_image_sets(datastoreId=DS, searchCriteria={}),
    "ListImageSetVersions": lambda c: c.list_image_set_versions(datastoreId=DS, imageSetId=IS),
}


@pytest.mark.parametrize("operation", sorted(NOT_ACCESS))
def test_reading_properties_does_not_move_it_back(tiered: Any, clock: Any, operation: str) -> None:
    created = clock()
    clock.advance(AFTER + 5)
    NOT_ACCESS[operation](tiered)
    assert _tier(tiered) == ("ARCHIVE_INSTANT_ACCESS", created)


ACCESS: dict[str, Callable[[Any], Any]] = {
    "GetImageSetMetadata": lambda c: metadata(c),
    "UpdateImageSetMetadata": lambda c: update(c, {"Study": {"DICOM": {"StudyDescription": "HEAD"}}}),
}


@pytest.mark.parametrize("operation", sorted(ACCESS))
def test_metadata_reads_and_updates_move_it_back(tiered: Any, clock: Any, operation: str) -> None:
    clock.advance(AFTER + 5)
    assert _tier(tiered)[0] == "ARCHIVE_INSTANT_ACCESS"
    ACCESS[operation](tiered)
    assert _tier(tiered) == ("FREQUENT_ACCESS", clock())
    assert _summary_tier(tiered) == ("FREQUENT_ACCESS", clock())
    clock.advance(AFTER)
    assert _tier(tiered)[0] == "ARCHIVE_INSTANT_ACCESS"  # and the 30-day (here: AFTER) count starts again


def test_a_refused_update_is_no_access(tiered: Any, clock: Any) -> None:
    created = clock()
    clock.advance(AFTER + 5)
    with pytest.raises(ClientError):
        update(tiered, {"Study": {"DICOM": {"StudyDescription": "HEAD"}}}, version="9")
    assert _tier(tiered) == ("ARCHIVE_INSTANT_ACCESS", created)


def test_list_image_set_versions_has_no_tier(tiered: Any) -> None:
    """The model's ImageSetProperties carries neither member; only GetImageSet and summaries do."""
    (props,) = tiered.list_image_set_versions(datastoreId=DS, imageSetId=IS)["imageSetPropertiesList"]
    assert "storageTier" not in props and "lastAccessedAt" not in props
