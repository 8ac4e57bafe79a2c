"""Which blamed versions a study-wide update made: a sibling's ``includeStudyImageSets`` request, not an
edit of the image set itself.

A study-wide update "update[s] all the primary image sets that share the same Study Instance UID as the
requested image set. This is an atomic operation, and the versions of all affected image sets will be
incremented" (https://docs.aws.amazon.com/healthimaging/latest/devguide/update-image-set-metadata.html).
While it runs, the other image sets show the workflow status ``UPDATING_FOR_STUDY_CONSISTENCY``; once it
is over, ListImageSetVersions shows their new version as ``UPDATED`` like any other, with nothing
naming the request. What stays is that every primary image set of the study got a version at the same
time, holding the same study-level value. So a blamed version of a study-level attribute of a primary
image set is taken as study-wide when another primary image set of the study (SearchImageSets by
``DICOMStudyInstanceUID``) has a version updated within ``SAME_TIME`` seconds of it that holds the same
value there. The cost is one search, one ListImageSetVersions per sibling and one metadata read per
candidate version, and it is paid only for such versions.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from reconciler.api import HealthImagingAPI, ImageSetInfo, study_image_sets
from reconciler.dicom.normalize import values_equal
from reconciler.dicom.tree import MISSING, get_at
from reconciler.plan.model import Change, ImageSetPlan

SAME_TIME = 1.0  # seconds: versions of one atomic update carry the same updatedAt (allowing for rounding)
STUDY_STATUS = "UPDATING_FOR_STUDY_CONSISTENCY"


@dataclass(frozen=True)
class StudyWide:
    """A blamed version that a study-wide update made: the other image sets it changed, with their versions.

    ``running``: the version still shows ``UPDATING_FOR_STUDY_CONSISTENCY`` (the update was requested on
    another image set and is not over)."""

    members: tuple[tuple[str, str], ...]
    running: bool = False


class StudyBlame:
    """Tells, per blamed version of one image set, whether a study-wide update made it (cached per sibling)."""

    def __init__(self, api: HealthImagingAPI, isp: ImageSetPlan) -> None:
        self.api, self.isp = api, isp
        self._siblings: dict[str, list[ImageSetInfo]] | None = None
        self._values: dict[tuple[str, str], dict[tuple[str, ...], Any]] = {}
        self.reads = 0

    def origin(self, change: Change, info: ImageSetInfo | None) -> StudyWide | None:
        """The study-wide update behind version INFO of CHANGE's live value, or None (an edit of its own)."""
        if info is None or info.updated_at is None or not self._eligible(change):
            return None
        members = tuple((sibling, v.version_id) for sibling, versions in self.siblings().items() for v in versions
                        if v.updated_at is not None and abs(v.updated_at - info.updated_at) <= SAME_TIME
                        and self._same_value(sibling, v.version_id, change))
        running = info.workflow_status == STUDY_STATUS
        return StudyWide(members, running) if members or running else None

    def _eligible(self, change: Change) -> bool:
        return bool(self.isp.is_primary and self.isp.study and change.path[:2] == ("Study", "DICOM")
                    and change.op != "add")

    def siblings(self) -> dict[str, list[ImageSetInfo]]:
        """The versions of every other primary image set of the study (read once)."""
        if self._siblings is None:
            isp = self.isp
            assert isp.study is not None
            ids = [h.image_set_id for h in study_image_sets(self.api, isp.datastore_id, isp.study)
                   if h.is_primary and h.image_set_id != isp.image_set_id]
            self._siblings = {i: list(self.api.list_image_set_versions(isp.datastore_id, i)) for i in ids}
        return self._siblings

    def _same_value(self, sibling: str, version: str, change: Change) -> bool:
        """Whether SIBLING at VERSION holds the value the blamed image set holds live at CHANGE's path."""
        key = (sibling, version)
        if key not in self._values:
            doc = self.api.get_image_set_metadata(self.isp.datastore_id, sibling, version)
            self.reads += 1
            self._values[key] = {c.path: get_at(doc, c.path) for c in self.isp.changes}
        value = self._values[key].get(change.path, MISSING)
        if value is MISSING or change.before is None:
            return False
        try:
            return bool(values_equal(value, change.before, change.vr))
        except (TypeError, ValueError, ArithmeticError):
            return bool(value == change.before)
