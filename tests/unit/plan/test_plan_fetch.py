"""Reads and per-image-set outcomes of build_plan, with an injected fake API (no emulator)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from reconciler.api import DatastoreInfo, ImageSetInfo, SearchHit
from reconciler.errors import NotFound
from reconciler.plan.build import build_plan
from reconciler.plan.fetch import ReadError, Work, read_live
from reconciler.spec.model import SpecDocument, Target

DS = "d" * 32
DOC = {"Patient": {"DICOM": {"PatientName": "A^B"}}}


class FakeAPI:
    """Answers GetImageSet with a scripted sequence of states; metadata is DOC at any version."""

    def __init__(self, states: list[str], missing: bool = False, primary: bool | None = False) -> None:
        self.states = states
        self.missing = missing
        self.primary = primary
        self.calls: list[tuple[str, str | None]] = []

    def get_image_set(self, datastore_id: str, image_set_id: str, version: str | None = None) -> ImageSetInfo:
        self.calls.append(("GetImageSet", None))
        if self.missing:
            raise NotFound("image set not found")
        state = self.states.pop(0) if len(self.states) > 1 else self.states[0]
        return ImageSetInfo(datastore_id, image_set_id, "7", state, is_primary=self.primary)

    def get_image_set_metadata(self, datastore_id: str, image_set_id: str, version: str | None = None) -> Any:
        self.calls.append(("GetImageSetMetadata", version))
        return DOC

    def search_image_sets(self, datastore_id: str, key: str, value: str) -> Iterator[SearchHit]:
        yield SearchHit("1" * 32, "3", storage_tier="FREQUENT_ACCESS", is_primary=self.primary)  # and the tier
        yield SearchHit("2" * 32, "4", storage_tier="ARCHIVE_INSTANT_ACCESS", is_primary=self.primary)

    def get_datastore(self, datastore_id: str) -> DatastoreInfo:
        return DatastoreInfo(datastore_id, "test", "ACTIVE")


def work(version: str | None = None) -> Work:
    return Work(DS, "i" * 32, version, ())


def test_metadata_is_read_at_exactly_the_version_get_image_set_saw() -> None:
    api = FakeAPI(["ACTIVE"])
    read = read_live(api, work())  # type: ignore[arg-type]
    assert (read.version, read.document, read.unread) == ("7", DOC, None)
    assert api.calls == [("GetImageSet", None), ("GetImageSetMetadata", "7")]


def test_a_locked_image_set_is_waited_for() -> None:
    api = FakeAPI(["LOCKED", "LOCKED", "ACTIVE"])
    slept: list[float] = []
    assert read_live(api, work(), lock_wait=10, poll=1, sleep=slept.append).version == "7"  # type: ignore[arg-type]
    assert slept == [1, 1]


@pytest.mark.parametrize(("states", "missing", "message"), [
    (["LOCKED"], False, "still LOCKED"), (["DELETED"], False, "DELETED"), (["ACTIVE"], True, "not found"),
])
def test_unreadable_image_sets_are_read_errors(states: list[str], missing: bool, message: str) -> None:
    with pytest.raises(ReadError, match=message):
        read_live(FakeAPI(states, missing), work(), lock_wait=2, poll=1, sleep=lambda s: None)  # type: ignore[arg-type]


def test_select_versions_come_from_search_without_get_image_set() -> None:
    api = FakeAPI(["ACTIVE"])
    doc = SpecDocument("s.yaml", 0, Target(DS, select=("DICOMPatientId", "P1")), False,
                       {"Patient": {"DICOM": {"PatientName": "C^D"}}})
    plan = build_plan([doc], api, parallelism=2)  # type: ignore[arg-type]
    assert [(p.image_set_id, p.version_id, p.action) for p in plan.image_sets] == [
        ("1" * 32, "3", "update"), ("2" * 32, "4", "update")]
    assert sorted(api.calls) == [("GetImageSetMetadata", "3"), ("GetImageSetMetadata", "4")]
    assert [p.tier_before for p in plan.image_sets] == ["FREQUENT_ACCESS", "ARCHIVE_INSTANT_ACCESS"]


def test_documents_for_the_same_image_set_are_merged_into_one_request() -> None:
    docs = [SpecDocument("a.yaml", 0, Target(DS, "i" * 32), False, {"Patient": {"DICOM": {"PatientName": "C^D"}}}),
            SpecDocument("b.yaml", 0, Target(DS, "i" * 32), False, {"Patient": {"DICOM": {"PatientSex": "F"}}})]
    (isp,) = build_plan(docs, FakeAPI(["ACTIVE"])).image_sets  # type: ignore[arg-type]
    assert len(isp.requests) == 1 and len(isp.changes) == 2
    assert isp.desired == {"Patient": {"DICOM": {"PatientName": "C^D", "PatientSex": "F"}}}
    assert isp.sources == ("a.yaml:1", "b.yaml:1")


def test_needs_force_without_force_in_spec_is_an_error_for_that_image_set() -> None:
    doc = SpecDocument("a.yaml", 0, Target(DS, "i" * 32), False,
                       {"Patient": {"DICOM": {"PatientName": "C^D"}}, "Study": {"DICOM": {"StudyID": "9"}}})
    (isp,) = build_plan([doc], FakeAPI(["ACTIVE"])).image_sets  # type: ignore[arg-type]
    assert isp.action == "error" and "Study.DICOM.StudyID" in (isp.error or "") and "force: true" in (isp.error or "")
    assert isp.requests == ()


def test_a_missing_is_primary_is_read_as_primary_with_a_warning_naming_the_image_set() -> None:
    """isPrimary is optional in the model: the restrictive reading, said out loud."""
    doc = SpecDocument("a.yaml", 0, Target(DS, "i" * 32), False, {"Patient": {"DICOM": {"PatientName": "C^D"}}})
    plan = build_plan([doc], FakeAPI(["ACTIVE"], primary=None))  # type: ignore[arg-type]
    (isp,) = plan.image_sets
    assert (isp.action, isp.is_primary, isp.changes[0].check) == ("error", True, "refused on primary")
    (warning,) = plan.run.warnings
    assert "i" * 32 in warning and "isPrimary" in warning and "C^D" not in warning
    told = build_plan([doc], FakeAPI(["ACTIVE"], primary=False))  # type: ignore[arg-type]
    assert not told.run.warnings and told.image_sets[0].action == "update"
