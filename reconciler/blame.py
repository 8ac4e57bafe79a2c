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
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from reconciler.api import HealthImagingAPI
from reconciler.dicom.normalize import values_equal
from reconciler.dicom.tree import MISSING, get_at
from reconciler.plan.model import Change, ImageSetPlan, Plan

Path = tuple[str, ...]


@dataclass(frozen=True)
class Blame:
    """Who introduced the live value at ``path``: ``version`` (None when the history could not tell)."""

    path: Path
    version: str | None
    updated_at: float | None = None
    since_first: bool = False


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
    blames: dict[Path, Blame] = {}
    for change in isp.changes:
        found, first = find_introduction(versions, _holds_live_value(change, reader))
        info = infos.get(found)
        blames[change.path] = Blame(change.path, str(found), info.updated_at if info else None, first)
    return ImageSetBlame(isp.image_set_id, blames, reader.reads)


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


# ----------------------------------------------------------------------------- output (paths and versions only)

_MAX_MARKDOWN_ROWS = 50


def _when(epoch: float | None) -> str:
    from reconciler.apply.history import iso

    return iso(epoch) or "time unknown"


def blame_json(doc: dict[str, Any], blames: Mapping[tuple[str, str], ImageSetBlame]) -> dict[str, Any]:
    """The drift JSON (``plan_json``) with ``blame`` on each change and ``blameReads`` per image set."""
    from reconciler.apply.history import iso

    for item in doc.get("image_sets", []):
        found = blames.get((item["datastoreId"], item["imageSetId"]))
        if found is None:
            continue
        item["blameReads"] = found.reads
        for change in item.get("changes", []):
            b = found.blames.get(tuple(change["path"]))
            if b is not None:
                change["blame"] = {"version": b.version, "updatedAt": iso(b.updated_at),
                                   "sinceFirstVersion": b.since_first}
    return doc


def blame_text(blames: Mapping[tuple[str, str], ImageSetBlame], plan: Plan, *, markdown: bool = False) -> str:
    """Lines naming, per drifted attribute, the version that introduced its live value (never the value)."""
    from reconciler.plan.diff import format_path

    rows: list[str] = []
    for isp in plan.image_sets:
        found = blames.get((isp.datastore_id, isp.image_set_id))
        if found is None:
            continue
        for b in found.blames.values():
            since = " (since the first version)" if b.since_first else ""
            rows.append(f"{isp.image_set_id} {format_path(b.path)}: live value from version {b.version}, "
                        f"{_when(b.updated_at)}{since}")
    if not rows:
        return ""
    reads = sum(f.reads for f in blames.values())
    head = (f"Blame: the version that introduced each drifted live value ({reads} metadata "
            f"read{'s' if reads != 1 else ''})")
    if not markdown:
        return "\n" + head + ":\n" + "".join(f"  {r}\n" for r in rows)
    shown = [f"- `{r}`" for r in rows[:_MAX_MARKDOWN_ROWS]]
    if len(rows) > _MAX_MARKDOWN_ROWS:
        shown.append(f"- … {len(rows) - _MAX_MARKDOWN_ROWS} more: run `reconciler drift --blame` for all")
    return f"\n#### {head}\n\n" + "\n".join(shown) + "\n"
