"""Replacement groups: a Patient-level change that primary image sets refuse reaches every primary image
set of the study together, or the plan is an error.

HealthImaging keeps the primary image sets of one study consistent: data that conflicts with an existing
primary image set is stored as non-primary "until the conflict is resolved"
(https://docs.aws.amazon.com/healthimaging/latest/devguide/understanding-image-sets.html). So the promoted
copy of one replaced primary is refused while another primary of its study holds the old Patient-level
values (``reconciler.dicom.primary``): replacing one primary of a two-primary study alone would delete it
and then fail to promote. The planner therefore:

- finds the study's primary image sets (SearchImageSets by StudyInstanceUID; a summary without
  ``isPrimary`` counts as primary) for every replaced image set with Patient-level changes;
- where the plan replaces every one of them with the same Patient-level changes (a ``select`` by patient
  or by study covers them all), makes them one group (``Replacement.group``): apply copies and updates
  every member, verifies every copy, deletes every original, then promotes every copy, and keeps a
  pristine copy of each original until every promotion is verified (``reconciler.apply.replace_group``);
- where it does not, every member is a plan error naming each uncovered sibling (image set ID) and the
  spec lines that ask for the change: nothing is written to the study.

A Study-level change with ``studyWide: false`` on a study with other primary image sets gets a warning:
the primaries of the study will disagree on it.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

from reconciler.api import HealthImagingAPI, study_image_sets
from reconciler.dicom.primary import STUDY_PAGE
from reconciler.plan import rules
from reconciler.plan.model import Change, ImageSetPlan
from reconciler.plan.study import is_study_level

Key = tuple[str, str]  # (datastore ID, StudyInstanceUID)


def is_patient_level(change: Change) -> bool:
    return change.path[:1] == ("Patient",)


def plan_groups(plans: Sequence[ImageSetPlan], api: HealthImagingAPI) -> tuple[ImageSetPlan, ...]:
    """PLANS with replacement groups made, uncovered siblings made plan errors, and the ``studyWide: false``
    warnings added (see the module)."""
    out = list(plans)
    replaced: dict[Key, list[int]] = {}
    narrow: dict[Key, list[int]] = {}
    for i, p in enumerate(out):
        if not p.study:
            continue
        if p.action == "replace" and any(map(is_patient_level, p.changes)):
            replaced.setdefault((p.datastore_id, p.study), []).append(i)
        elif p.action == "update" and p.is_primary and not p.study_wide and any(map(is_study_level, p.changes)):
            narrow.setdefault((p.datastore_id, p.study), []).append(i)
    for key in dict.fromkeys([*replaced, *narrow]):
        primaries = sorted(h.image_set_id for h in study_image_sets(api, key[0], key[1]) if h.is_primary is not False)
        if key in replaced:
            _group(out, replaced[key], primaries)
        for i in narrow.get(key, ()):
            others = [x for x in primaries if x != out[i].image_set_id]
            if others:
                out[i] = _warn(out[i], _narrow_warning(out[i], others))
    return tuple(out)


def _group(out: list[ImageSetPlan], members: list[int], primaries: list[str]) -> None:
    ids = {out[i].image_set_id for i in members}
    uncovered = [x for x in primaries if x not in ids]
    if not uncovered and len(members) == 1:
        return  # the only primary of its study: an ordinary replacement
    if uncovered:
        for i in members:
            out[i] = _error(out[i], _uncovered(out[i], uncovered))
        return
    first = _patient_changes(out[members[0]])
    differ = [out[i].image_set_id for i in members if not _same(_patient_changes(out[i]), first)]
    if differ:
        for i in members:
            out[i] = _error(out[i], _disagree(out[i], sorted(ids)))
        return
    group, requests = tuple(sorted(ids)), sum(len(out[i].requests) for i in members)
    for i in members:
        r = out[i].replacement
        assert r is not None  # action "replace"
        out[i] = dataclasses.replace(out[i], replacement=dataclasses.replace(r, group=group, group_requests=requests))


def _patient_changes(p: ImageSetPlan) -> list[Change]:
    return sorted((c for c in p.changes if is_patient_level(c)), key=lambda c: c.path)


def _same(a: list[Change], b: list[Change]) -> bool:
    if [(c.path, c.op) for c in a] != [(c.path, c.op) for c in b]:
        return False
    return all(x.op == "remove" or rules.values_equal(x.after, y.after, x.vr) for x, y in zip(a, b, strict=True))


def _sources(p: ImageSetPlan) -> str:
    found = sorted({c.source for c in p.changes if is_patient_level(c) and c.source})
    return ", ".join(found) or ", ".join(p.sources) or "(unknown)"


def _uncovered(p: ImageSetPlan, uncovered: list[str]) -> str:
    return (f"its Patient-level changes (asked at {_sources(p)}) must reach every primary image set of the study "
            f"together, and the specs do not replace primary image set{'s' if len(uncovered) != 1 else ''} "
            f"{', '.join(uncovered)} of the same study with the same changes: its promoted copy would be refused "
            "while another primary of the study holds other Patient-level metadata. Target them all (a `select` "
            f"by DICOMPatientId or DICOMStudyInstanceUID with `replace: allow`); nothing is written ({STUDY_PAGE})")


def _disagree(p: ImageSetPlan, members: list[str]) -> str:
    return (f"the primary image sets {', '.join(members)} of one study are replaced together, and the specs ask "
            f"for different Patient-level changes on them (this one at {_sources(p)}); give them the same "
            f"Patient-level values; nothing is written ({STUDY_PAGE})")


def _narrow_warning(p: ImageSetPlan, others: list[str]) -> str:
    return (f"image set {p.image_set_id}: `studyWide: false` sends its Study-level changes to it alone, and the "
            f"study's other primary image set{'s' if len(others) != 1 else ''} {', '.join(others)} keep their "
            "values: the study's primary image sets will disagree")


def _error(p: ImageSetPlan, message: str) -> ImageSetPlan:
    return dataclasses.replace(p, action="error", requests=(), error=message)


def _warn(p: ImageSetPlan, warning: str) -> ImageSetPlan:
    return dataclasses.replace(p, warnings=(*p.warnings, warning))
