"""A re-run of ``apply PATH...`` that finds replacements a crash left half-way (``reconciler.apply.ledger``).

The plan is made from the live state, which mid-replacement holds more than one image set for the same
instances: a ``select`` target also finds the temporary copy (non-primary) and maybe the new primary, and
an ``imageSetId`` target names a primary that may be deleted already. So, before the plan is applied:

- the temporary copy of an unfinished replacement is not planned on its own: its replacement owns it;
- a replacement whose primary deletion was started is continued even when the plan could not read the
  primary (it is deleted), from the journal alone: delete the primary if that did not go out, promote the
  copy, verify the new primary, delete the copy. The copy was verified against the plan before the primary
  deletion started, so these steps need no payload; the new primary is checked against the desired tree of
  the entry the plan made for the copy (the same documents found it), and always for every instance.
- a replacement whose primary is still there continues when the plan replaces that primary again
  (``ReplaceApply`` reads the journal): the copy is adopted, not made twice.
- a copy whose CopyImageSet went out with no answer journalled (``copy_submitting`` last) is looked for in
  the live state first (``locate_copies``), so that the plan does not take it for an image set of its own.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

from reconciler.api import HealthImagingAPI, study_image_sets
from reconciler.apply.instances import instance_keys
from reconciler.apply.ledger import Progress
from reconciler.errors import ReconcilerError
from reconciler.plan.model import ImageSetPlan, Plan, Replacement


def resume_plan(plan: Plan, pending: Sequence[Progress]) -> Plan:
    """PLAN with the unfinished replacements of PENDING taken in (see the module)."""
    if not pending:
        return plan
    copies = {(p.datastore_id, made): p for p in pending for made in (p.copy_id, p.pristine_id, p.new_id,
                                                                      p.restored_id) if made}
    keep: list[ImageSetPlan] = []
    desired = {}
    for isp in plan.image_sets:
        owner = copies.get((isp.datastore_id, isp.image_set_id))
        if owner is not None:  # a temporary copy: its replacement owns it
            desired[(owner.datastore_id, owner.image_set_id)] = isp
            continue
        keep.append(isp)
    planned = {(p.datastore_id, p.image_set_id): n for n, p in enumerate(keep)}
    opened = {(p.datastore_id, m) for p in pending if p.group and p.primary_deleting for m in p.group}
    for progress in pending:
        key = (progress.datastore_id, progress.image_set_id)
        n = planned.get(key)
        grouped = key in opened  # a group with an original deleted: every member goes on as that group
        found = keep[n].replacement if n is not None else None
        if n is not None and found is not None and grouped:
            keep[n] = dataclasses.replace(keep[n], replacement=dataclasses.replace(found, group=progress.group))
            continue
        if n is not None and keep[n].action == "replace":
            continue  # the plan replaces it again: ReplaceApply continues from the journal
        if not progress.primary_deleting and not grouped:
            continue  # the primary holds everything; the plan decides what becomes of it
        source = desired.get(key)
        entry = ImageSetPlan(progress.datastore_id, progress.image_set_id, progress.planned_version, "replace",
                             desired=source.desired if source is not None else {},
                             sources=source.sources if source is not None else (),
                             replacement=Replacement((), (), progress.group), is_primary=True,  # continued
                             study=source.study if source is not None else None)
        if n is not None:
            keep[n] = entry
        else:
            keep.append(entry)
    return dataclasses.replace(plan, image_sets=tuple(_wait_for_groups(keep, opened)))


def _wait_for_groups(plans: list[ImageSetPlan], opened: set[tuple[str, str]]) -> list[ImageSetPlan]:
    """A replacement of a study whose group is being continued from the journal waits for it: the plan saw
    the study without the group's originals (deleted) nor its promoted copies (not made yet), so it may have
    planned another primary of the study alone; promoting it now would be refused."""
    studies = {(p.datastore_id, p.study) for p in plans if (p.datastore_id, p.image_set_id) in opened and p.study}
    out = []
    for p in plans:
        if p.action == "replace" and (p.datastore_id, p.study) in studies and (p.datastore_id, p.image_set_id) \
                not in opened:
            members = sorted(m for ds, m in opened if ds == p.datastore_id)
            p = dataclasses.replace(p, action="error", requests=(), error=(
                f"not replaced now: the replacement group {', '.join(members)} of the same study is being finished "
                "from the journal; plan and apply again once it is done"))
        out.append(p)
    return out


SLACK = 5.0  # seconds: the service's clock may be a little behind ours


def locate_copies(api: HealthImagingAPI, pending: Sequence[Progress]) -> list[Progress]:
    """PENDING, with the copy of each replacement whose copy request went out unanswered filled in where the
    live state holds it: a non-primary image set of the primary's study, created after the request's record,
    holding the primary's instances (best effort: what cannot be read stays unknown, and ``ReplaceApply``
    looks again)."""
    out = []
    for p in pending:
        if p.copy_id is None and p.copy_sending is not None and not p.primary_deleting:
            p = dataclasses.replace(p, copy_id=_find_copy(api, p, p.copy_sending))
        if p.pristine_id is None and p.pristine_sending is not None and not p.primary_deleting:
            p = dataclasses.replace(p, pristine_id=_find_copy(api, p, p.pristine_sending, {p.copy_id}))
        out.append(p)
    return out


def _find_copy(api: HealthImagingAPI, p: Progress, since: float, known: set[str | None] | None = None) -> str | None:
    try:
        original = api.get_image_set_metadata(p.datastore_id, p.image_set_id, version=p.planned_version)
        study = original.get("Study", {}).get("DICOM", {}).get("StudyInstanceUID")
        if not study:
            return None
        keys = instance_keys(original)
        for hit in study_image_sets(api, p.datastore_id, str(study)):
            skip = {p.image_set_id, *(known or ())}
            if hit.is_primary is False and (hit.created_at or 0.0) >= since - SLACK and hit.image_set_id not in skip \
                    and instance_keys(api.get_image_set_metadata(p.datastore_id, hit.image_set_id)) == keys:
                return hit.image_set_id
    except ReconcilerError:
        return None
    return None
