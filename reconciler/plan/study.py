"""Study-wide requests: study-level changes of a primary image set whose study has other primary image sets.

``includeStudyImageSets=true`` on UpdateImageSetMetadata "update[s] all the primary image sets that share
the same Study Instance UID as the requested image set. This is an atomic operation, and the versions of
all affected image sets will be incremented." It is not allowed with ``revertToVersionId``
(https://docs.aws.amazon.com/healthimaging/latest/devguide/update-image-set-metadata.html). A study's
primary image sets then keep one set of study-level values, so the planner sends such changes as ONE
study-wide request per study:

- the siblings are found with SearchImageSets by ``DICOMStudyInstanceUID`` (primary ones, from the
  summaries' ``isPrimary``), each with the version the search read (the plan's own read for those the
  plan targets too); a study whose only primary is the planned image set gets an ordinary request;
- the image set of the plan with the most study-level changes in that study (the first of the plan on
  a tie) owns the request: its study-level changes go out with ``includeStudyImageSets``, its other
  changes as ordinary requests after it; it lists every other image set the request touches
  (``study_members``);
- other planned primaries of the study whose study-level changes are among the owner's send none of
  their own (``study_owner`` names the owner; apply runs them after it); a study-level change the
  owner's request does not make in the same way, or a planned primary whose spec holds another value
  than the request sets, is a plan error for the image sets concerned: one request cannot satisfy both;
- when a planned primary of the study has plan errors, nothing may be sent to it, and a study-wide
  request would change it: the image sets with study-level changes of that study are plan errors too;
- a primary the plan replaces (action ``replace``: copy, update the copy, promote) takes no part in a
  study-wide request: it sends none, and a sibling's study-wide request that would change it (and so
  break the version its replacement is guarded by) is a plan error saying to apply the replacement first;
- a document with ``studyWide: false`` opts out: its image set's study-level changes go to it alone,
  as an ordinary request (a primary accepts study-level changes; only its Patient and Series levels and
  the UIDs are refused), and the other primaries of the study keep their values.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any

from reconciler.api import HealthImagingAPI, study_image_sets
from reconciler.dicom.tree import MISSING, get_at
from reconciler.plan import rules
from reconciler.plan.diff import format_path
from reconciler.plan.model import Change, ImageSetPlan, Path, StudyMember
from reconciler.plan.requests import BLOB_LIMIT, NOT_SENT, build_requests


def is_study_level(change: Change) -> bool:
    """A change of a Study-level attribute (``Study.DICOM.KEY``)."""
    return change.path[:2] == ("Study", "DICOM") and len(change.path) == 3 and change.check not in NOT_SENT


def plan_studies(
    plans: Sequence[ImageSetPlan], api: HealthImagingAPI, limit: int = BLOB_LIMIT
) -> tuple[ImageSetPlan, ...]:
    """PLANS with the study-level changes of primaries turned into study-wide requests (see the module)."""
    out = list(plans)
    groups: dict[tuple[str, str], list[int]] = {}
    for i, p in enumerate(out):
        if p.action == "update" and p.is_primary and p.study and p.study_wide and any(map(is_study_level, p.changes)):
            groups.setdefault((p.datastore_id, p.study), []).append(i)
    for (datastore_id, study), candidates in groups.items():
        found = {h.image_set_id: str(h.version)
                 for h in study_image_sets(api, datastore_id, study) if h.is_primary}
        if not set(found) - {out[candidates[0]].image_set_id} and len(candidates) == 1:
            continue  # the study has no other primary: an ordinary request does it
        owner = min(candidates, key=lambda i: (-sum(map(is_study_level, out[i].changes)), i))
        _one_study(out, owner, found, limit)
    return tuple(out)


def _one_study(out: list[ImageSetPlan], first: int, found: dict[str, str], limit: int) -> None:
    """Give the owner (``out[first]``) the study-wide request; the planned siblings follow it."""
    owner = out[first]
    payload = {c.path: c for c in owner.changes if is_study_level(c)}
    # a planned image set the drift state left unread has no study or primary flag of its own: the search
    # of the study (``found``) tells that it is one of the study's primaries
    in_study = [i for i, p in enumerate(out) if p.datastore_id == owner.datastore_id and p.version_id is not None
                and ((p.is_primary and p.study == owner.study) or (p.unread is not None and p.image_set_id in found))]
    clashes = [(i, path) for i in in_study if i != first for path in _clashes(out[i], payload)]
    if clashes:
        for i in sorted({first, *(i for i, _ in clashes)}):
            paths = sorted({path for j, path in clashes if j == i or i == first})
            out[i] = _error(out[i], owner.image_set_id, paths)
        return
    broken = [out[i].image_set_id for i in in_study if i != first and out[i].action in ("error", "replace")]
    replaced = [image_set_id for image_set_id in broken if image_set_id in
                {out[i].image_set_id for i in in_study if out[i].action == "replace"}]
    if broken:  # nothing may be sent to an image set with plan errors, not even by a sibling's request;
        # nor to one this plan replaces (its request would bump the version the replacement is guarded by)
        for i in in_study:
            if i == first or (out[i].action == "update" and any(map(is_study_level, out[i].changes))):
                out[i] = _blocked(out[i], broken, replaced)
        return
    read = {out[i].image_set_id: str(out[i].version_id) for i in in_study}
    versions = {**found, **read}  # the plan's own read where it has one
    members = tuple(StudyMember(image_set_id, version)
                    for image_set_id, version in sorted(versions.items()) if image_set_id != owner.image_set_id)
    study_changes = [c for c in owner.changes if is_study_level(c)]
    rest = [c for c in owner.changes if not is_study_level(c)]
    requests = build_requests(study_changes, limit, study=True) + build_requests(rest, limit)
    out[first] = dataclasses.replace(owner, requests=requests, study_members=members,
                                     force=any(r.force for r in requests))
    for i in in_study:
        p = out[i]
        if i == first or p.action != "update":
            continue
        own = build_requests([c for c in p.changes if not is_study_level(c)], limit)
        out[i] = dataclasses.replace(p, requests=own, study_owner=owner.image_set_id,
                                     force=any(r.force for r in own))


def _clashes(p: ImageSetPlan, payload: dict[Path, Change]) -> list[Path]:
    """The study-level paths where P (a planned primary of the study) would not hold what the request sets:
    a study-level change of its own that differs, or a desired value that differs."""
    out: list[Path] = []
    own = {c.path: c for c in p.changes if is_study_level(c)}
    for path, change in payload.items():
        mine = own.pop(path, None)
        if mine is not None:
            if not _same(mine, change):
                out.append(path)
            continue
        wanted = get_at(p.desired, path)
        if wanted is not MISSING and not _holds(wanted, change):
            out.append(path)
    out.extend(own)  # study-level changes the request does not carry: the study would not agree
    return out


def _same(a: Change, b: Change) -> bool:
    if a.op == "remove" or b.op == "remove":
        return a.op == b.op
    return _holds(a.after, b)


def _holds(wanted: Any, change: Change) -> bool:
    """Whether a desired value WANTED agrees with what CHANGE leaves (its value, or absence)."""
    if change.op == "remove":
        return wanted is None
    if wanted is None:
        return False
    try:
        return bool(rules.values_equal(wanted, change.after, change.vr))
    except (TypeError, ValueError, ArithmeticError):
        return bool(wanted == change.after)


def _error(p: ImageSetPlan, owner: str, paths: list[Path]) -> ImageSetPlan:
    where = ", ".join(format_path(path) for path in paths)
    message = (f"{where}: the study's primary image sets get their study-level values from one study-wide "
               f"update (includeStudyImageSets, planned for image set {owner}), and the specs ask for different "
               "values on image sets of the study; give them the same values, or set `studyWide: false` "
               f"({rules.PRIMARY_PAGE})")
    return dataclasses.replace(p, action="error", requests=(), error=message, unread=None)


def _blocked(p: ImageSetPlan, broken: list[str], replaced: list[str]) -> ImageSetPlan:
    names = ", ".join(broken)
    if replaced:
        message = (f"its study-level changes need a study-wide update (includeStudyImageSets), which would also "
                   f"change image set{'s' if len(broken) != 1 else ''} {names} of the same study, which this plan "
                   f"replaces (or has plan errors): apply the replacement first (--target "
                   f"{replaced[0]}), then plan again, or set `studyWide: false` ({rules.PRIMARY_PAGE})")
        return dataclasses.replace(p, action="error", requests=(), error=message)
    message = (f"its study-level changes need a study-wide update (includeStudyImageSets), which would also change "
               f"image set{'s' if len(broken) != 1 else ''} {names} of the same study; that has plan errors, so "
               f"nothing may be written to it: fix them first, or set `studyWide: false` ({rules.PRIMARY_PAGE})")
    return dataclasses.replace(p, action="error", requests=(), error=message)
