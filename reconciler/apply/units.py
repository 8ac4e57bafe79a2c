"""How the executor (``reconciler.apply.executor``) cuts a plan into run units, each run on one worker in
order: an image set alone; a study-wide request's owner and the image sets that follow it; the members of
a replacement group, run together (``reconciler.apply.replace_group``)."""

from __future__ import annotations

from collections.abc import Sequence

from reconciler.apply.guarded import result
from reconciler.apply.report import ImageSetResult
from reconciler.plan.model import ImageSetPlan


def run_units(sets: Sequence[ImageSetPlan]) -> list[list[int]]:
    """Plan indices in run units: each image set alone, except that the image sets following a study-wide
    request (``study_owner``) join the group of the image set that request goes to, after it, and the members
    of a replacement group (``Replacement.group``) run as one unit."""
    owners = {(p.datastore_id, p.image_set_id): i for i, p in enumerate(sets) if p.study_members}
    replaced: dict[tuple[str, tuple[str, ...]], int] = {}
    groups: dict[int, list[int]] = {}
    for i, p in enumerate(sets):
        lead = owners.get((p.datastore_id, p.study_owner or "")) if p.study_owner else None
        if p.action == "replace" and p.replacement is not None and p.replacement.group:
            lead = replaced.setdefault((p.datastore_id, p.replacement.group), i)
        groups.setdefault(i if lead is None else lead, []).append(i)
    for lead, members in groups.items():  # the owner first, whatever its place in the plan
        members.sort(key=lambda i: i != lead)
    return sorted(groups.values(), key=lambda g: min(g))


def replacement_group(sets: Sequence[ImageSetPlan], unit: list[int]) -> bool:
    first = sets[unit[0]]
    return first.action == "replace" and first.replacement is not None and bool(first.replacement.group)


def study_sent(owner: ImageSetResult, sets: Sequence[ImageSetPlan]) -> int:
    """How many study-wide requests of OWNER were sent (they come first among its requests)."""
    plan = next(p for p in sets if p.image_set_id == owner.image_set_id and p.datastore_id == owner.datastore_id)
    return min(owner.requests_sent, plan.study_requests)


def after_owner(isp: ImageSetPlan, owner: ImageSetResult, sets: Sequence[ImageSetPlan]) -> ImageSetResult | None:
    """The result of ISP when the study-wide request it follows did not converge (nothing is sent), else None."""
    if owner.status == "converged" or isp.action != "update":
        return None
    why = f"not applied: its study-level changes go out with the study-wide update of image set {owner.image_set_id}"
    if owner.status == "stale":
        return result(isp, "stale", current_version=isp.version_id,
                      message=f"{why}, which found the study changed since the plan; nothing was written")
    if owner.status in ("not_started", "unfinished"):
        return result(isp, "not_started")
    return result(isp, "failed", message=f"{why}, which did not converge")
