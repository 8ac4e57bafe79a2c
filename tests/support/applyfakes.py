"""A small in-memory HealthImagingAPI for the apply unit tests: versions, LOCKED polls, conflicts, faults.

What an update does to a document is the emulator's own ``apply_updates``, so the fake cannot drift
from the emulator's update semantics."""

from __future__ import annotations

import copy
import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from reconciler.api import DatastoreInfo, ImageSetInfo, SearchHit, UpdateResult
from reconciler.emulator.updates import UpdateFailed, apply_updates
from reconciler.errors import Cancelled, NotFound, StaleVersion
from reconciler.plan.model import ImageSetPlan, Plan, UpdateRequest

DS = "d" * 32
A, B, C = "a" * 32, "b" * 32, "c" * 32


@dataclass
class Versioned:
    docs: list[dict[str, Any]]  # index = version - 1
    infos: list[ImageSetInfo]
    locked_polls: int = 0


@dataclass
class FakeAPI:
    """Updates take ``lock_polls`` GetImageSet calls to settle; ``update_failed``/``ignore`` are image-set IDs."""

    lock_polls: int = 1
    update_failed: set[str] = field(default_factory=set)
    ignore: set[str] = field(default_factory=set)  # accepted, but the write does not take effect
    errors: dict[str, Exception] = field(default_factory=dict)  # raised by update for that image set
    sets: dict[str, Versioned] = field(default_factory=dict)
    calls: list[tuple[str, str, str | None]] = field(default_factory=list)  # (op, image set, guard)

    def add(self, image_set_id: str, doc: dict[str, Any]) -> None:
        info = ImageSetInfo(DS, image_set_id, "1", "ACTIVE", "CREATED")
        self.sets[image_set_id] = Versioned([copy.deepcopy(doc)], [info])

    def outside_write(self, image_set_id: str, patch: dict[str, Any]) -> None:
        s = self.sets[image_set_id]
        s.docs.append(apply_updates(s.docs[-1], patch, None))
        s.infos.append(ImageSetInfo(DS, image_set_id, str(len(s.docs)), "ACTIVE", "UPDATED"))

    def latest(self, image_set_id: str) -> dict[str, Any]:
        return self.sets[image_set_id].docs[-1]

    def get_image_set(self, datastore_id: str, image_set_id: str, version: str | None = None) -> ImageSetInfo:
        self.calls.append(("GetImageSet", image_set_id, version))
        s = self._set(image_set_id)
        if version is not None:
            return s.infos[int(version) - 1]
        if s.locked_polls > 0:
            s.locked_polls -= 1
            info = s.infos[-1]
            return ImageSetInfo(DS, image_set_id, info.version_id, "LOCKED", "UPDATING")
        return s.infos[-1]

    def get_image_set_metadata(self, datastore_id: str, image_set_id: str, version: str | None = None) -> Any:
        self.calls.append(("GetImageSetMetadata", image_set_id, version))
        s = self._set(image_set_id)
        return copy.deepcopy(s.docs[int(version) - 1] if version else s.docs[-1])

    def update_image_set_metadata(
        self, datastore_id: str, image_set_id: str, latest_version: str, *,
        updatable: bytes | None = None, removable: bytes | None = None, force: bool = False,
        cancel: threading.Event | None = None, include_study: bool = False,
    ) -> UpdateResult:
        if cancel is not None and cancel.is_set():  # as the real client's limiter: nothing is sent
            raise Cancelled("UpdateImageSetMetadata not sent: the run is stopping")
        self.calls.append(("UpdateImageSetMetadata", image_set_id, latest_version))
        if image_set_id in self.errors:
            raise self.errors[image_set_id]
        s = self._set(image_set_id)
        current = s.infos[-1].version_id
        if latest_version != current:
            raise StaleVersion(f"image set {image_set_id}: version conflict", planned_version=latest_version)
        doc = copy.deepcopy(s.docs[-1])
        failed = image_set_id in self.update_failed
        message = "INVALID_REQUEST: attribute module not present" if failed else None
        if not failed and image_set_id not in self.ignore:
            try:
                doc = apply_updates(doc, json.loads(updatable) if updatable else None,
                                    json.loads(removable) if removable else None)
            except UpdateFailed as exc:  # e.g. a series or instance that is not there
                failed, message = True, str(exc)
        new = str(len(s.docs) + 1)
        s.docs.append(doc)
        status = "UPDATE_FAILED" if failed else "UPDATED"
        s.infos.append(ImageSetInfo(DS, image_set_id, new, "ACTIVE", status, message, forced=force))
        s.locked_polls = self.lock_polls
        return UpdateResult(DS, image_set_id, new, "LOCKED", "UPDATING")

    def revert_image_set(self, datastore_id: str, image_set_id: str, latest_version: str, to_version: str) -> Any:
        s = self._set(image_set_id)
        if latest_version != s.infos[-1].version_id:
            raise StaleVersion("conflict", planned_version=latest_version)
        s.docs.append(copy.deepcopy(s.docs[int(to_version) - 1]))
        new = str(len(s.docs))
        s.infos.append(ImageSetInfo(DS, image_set_id, new, "ACTIVE", "UPDATED"))
        s.locked_polls = self.lock_polls
        return UpdateResult(DS, image_set_id, new, "LOCKED", "UPDATING")

    def list_image_set_versions(self, datastore_id: str, image_set_id: str) -> Iterator[ImageSetInfo]:
        return iter(reversed(self._set(image_set_id).infos))

    def search_image_sets(self, datastore_id: str, key: str, value: str) -> Iterator[SearchHit]:
        return iter(())

    def get_datastore(self, datastore_id: str) -> DatastoreInfo:
        return DatastoreInfo(datastore_id, "fake", "ACTIVE")

    def _set(self, image_set_id: str) -> Versioned:
        if image_set_id not in self.sets:
            raise NotFound(f"image set {image_set_id} not found", code="ResourceNotFoundException", status=404)
        return self.sets[image_set_id]


PHI = "SECRET^PATIENT"


def base_doc() -> dict[str, Any]:
    return {"SchemaVersion": "1.1", "Patient": {"DICOM": {"PatientName": "OLD^NAME", "PatientID": "P1"}},
            "Study": {"DICOM": {"StudyDescription": "CHEST "},
                      "Series": {"1.2.3": {"DICOM": {"Modality": "CT"},
                                           "Instances": {"1.2.3.4": {"DICOM": {}}, "1.2.3.5": {"DICOM": {}}}}}}}


def blob(tree: dict[str, Any]) -> bytes:
    return json.dumps({"SchemaVersion": "1.1", **tree}).encode()


def rename_request(name: str = PHI) -> UpdateRequest:
    return UpdateRequest(blob({"Patient": {"DICOM": {"PatientName": name}}}), None, False)


def update_plan(image_set_id: str, *requests: UpdateRequest, version: str = "1") -> ImageSetPlan:
    return ImageSetPlan(DS, image_set_id, version, "update", requests=requests or (rename_request(),))


def plan_of(*sets: ImageSetPlan) -> Plan:
    return Plan(tuple(sets), spec_digest="sha256:test")


def three_sets() -> FakeAPI:
    fake = FakeAPI()
    for name in (A, B, C):
        fake.add(name, base_doc())
    return fake
