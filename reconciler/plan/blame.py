"""`drift --blame`: for each drifted attribute, the version that introduced its live value.

History comes from ListImageSetVersions; a value at a version from GetImageSetMetadata at that
version. Reading every version would cost one metadata read (a gunzip of a possibly large document)
per version, so the search gallops back from the planned version (probing n-1, n-3, n-7, ...) until a
version does not hold the live value, then bisects between the two last probes: about
2·log2(distance) reads, shared by every drifted attribute of the image set (one read per version).

Semantics (what the reported version k means): version k holds the live value and the version
before it does not, or k is the first version and the value has been there since the image set was
created (``since_first``). When the value changed into its live value once, as drift usually does, k
is exactly that change, however many later versions did not touch the attribute. When the value
changed back and forth (A, B, A), k is the latest change into the live value that the probes can
see: every probed version after k holds the live value; a flip away and back again that falls
entirely between two probes is not seen (``reconciler history`` lists every version).

A version made by a study-wide update requested on another primary image set of the study is no edit of
this image set: ``Blame.study`` says so, with the other image sets that update changed
(``reconciler.plan.studyblame``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from reconciler.api import HealthImagingAPI
from reconciler.dicom.normalize import values_equal
from reconciler.dicom.tree import MISSING, get_at
from reconciler.plan.model import Change, ImageSetPlan, Plan
from reconciler.plan.studyblame import StudyBlame, StudyWide

Path = tuple[str, ...]


@dataclass(frozen=True)
class Blame:
    """Who introduced the live value at ``path``: ``version`` (None when the history could not tell)."""

    path: Path
    version: str | None
    updated_at: float | None = None
    since_first: bool = False
    study: StudyWide | None = None  # the version came from a study-wide update (not an edit of its own)


@dataclass(frozen=True)
class ImageSetBlame:
    image_set_id: str
    blames: Mapping[Path, Blame]
    reads: int  # GetImageSetMetadata calls made for this image set


def blame_plan(plan: Plan, api: HealthImagingAPI) -> dict[tuple[str, str], ImageSetBlame]:
    """Blame every change of every image set of ``plan`` that has changes and a known version."""
    out: dict[tuple[str, str], ImageSetBlame] = {}
    for isp in plan.image_sets:
        if isp.changes and isp.version_id is not None:
            out[(isp.datastore_id, isp.image_set_id)] = blame_image_set(isp, api)
    return out


def blame_image_set(isp: ImageSetPlan, api: HealthImagingAPI) -> ImageSetBlame:
    """Blame the changes of one image set (see the module docstring for the search and its meaning)."""
    assert isp.version_id is not None
    planned = int(isp.version_id)
    infos = {int(v.version_id): v for v in api.list_image_set_versions(isp.datastore_id, isp.image_set_id)
             if v.version_id.isdigit() and int(v.version_id) <= planned}
    versions = sorted(infos)
    if not versions or versions[-1] != planned:
        versions.append(planned)
    reader = _VersionReader(api, isp, [c.path for c in isp.changes])
    study = StudyBlame(api, isp)
    blames: dict[Path, Blame] = {}
    for change in isp.changes:
        found, first = find_introduction(versions, _holds_live_value(change, reader))
        info = infos.get(found)
        origin = None if first else study.origin(change, info)
        blames[change.path] = Blame(change.path, str(found), info.updated_at if info else None, first, origin)
    return ImageSetBlame(isp.image_set_id, blames, reader.reads + study.reads)


def find_introduction(versions: Sequence[int], holds: Callable[[int], bool]) -> tuple[int, bool]:
    """(k, since_first): the version where the live value appeared, by galloping then bisecting.

    ``versions`` ascend and their last one holds the live value by definition (it is not probed).
    """
    hi = len(versions) - 1
    step = 1
    while hi > 0:
        probe = max(hi - step, 0)
        if not holds(versions[probe]):
            lo = probe
            break
        hi, step = probe, step * 2
    else:
        return versions[0], True
    while hi - lo > 1:
        mid = (lo + hi + 1) // 2  # rounded up: of several changes into the value, favour the latest
        if holds(versions[mid]):
            hi = mid
        else:
            lo = mid
    return versions[hi], False


class _VersionReader:
    """One GetImageSetMetadata per version, keeping only the values at the drifted paths."""

    def __init__(self, api: HealthImagingAPI, isp: ImageSetPlan, paths: Sequence[Path]) -> None:
        self.api, self.isp, self.paths = api, isp, list(paths)
        self.cache: dict[int, dict[Path, Any]] = {}
        self.reads = 0

    def value(self, version: int, path: Path) -> Any:
        if version not in self.cache:
            doc = self.api.get_image_set_metadata(self.isp.datastore_id, self.isp.image_set_id, str(version))
            self.reads += 1
            self.cache[version] = {p: get_at(doc, p) for p in self.paths}
            del doc  # metadata documents can be large: keep only the values blamed
        return self.cache[version][path]


def _holds_live_value(change: Change, reader: _VersionReader) -> Callable[[int], bool]:
    """Whether a version holds what live held when planned (the change's ``before``, or absence)."""
    if change.node:
        live_present = change.op != "add"  # a whole series or instance: present live unless added
        return lambda v: (reader.value(v, change.path) is not MISSING) == live_present
    live = MISSING if change.op == "add" else change.before

    def holds(version: int) -> bool:
        value = reader.value(version, change.path)
        if value is MISSING or live is MISSING:
            return value is live
        try:
            return bool(values_equal(value, live, change.vr))
        except (TypeError, ValueError, ArithmeticError):
            return bool(value == live)

    return holds

