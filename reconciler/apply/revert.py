"""Revert an image set to an earlier version: guarded by the current version, waited for, verified.

HealthImaging's ``revertToVersionId`` creates a new version whose content is the target's; "verified"
means the new version's metadata equals the target version's, read back after the update settled.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from reconciler.api import HealthImagingAPI
from reconciler.apply.waiter import WaitPolicy, wait_until_settled
from reconciler.errors import ReconcilerError, StaleVersion


@dataclass(frozen=True)
class RevertPlan:
    datastore_id: str
    image_set_id: str
    current_version: str
    to_version: str
    target: Mapping[str, Any]  # the metadata of to_version (patient data: never printed)
    current: Mapping[str, Any] = field(default_factory=dict, repr=False)  # the metadata of current_version


@dataclass(frozen=True)
class RevertResult:
    status: Literal["reverted", "stale", "failed"]
    plan: RevertPlan
    new_version: str | None = None
    current_version: str | None = None
    message: str | None = None

    @property
    def exit_code(self) -> int:
        return {"reverted": 0, "stale": 3}.get(self.status, 1)

    def text(self) -> str:
        p = self.plan
        who = f"image set {p.image_set_id}"
        if self.status == "reverted":
            return (f"Reverted {who} to version {p.to_version}: new version {self.new_version} "
                    "(verified: its metadata equals version " + p.to_version + ")")
        if self.status == "stale":
            return (f"Not reverted: {who} changed since it was read (version {p.current_version}, "
                    f"now {self.current_version}); nothing was written")
        return f"Revert of {who} failed: {self.message}"


def plan_revert(
    api: HealthImagingAPI, datastore_id: str, image_set_id: str, to_version: str, policy: WaitPolicy,
    *, sleep: Callable[[float], None] = time.sleep,
) -> RevertPlan:
    """Read the current version (waiting out a LOCKED state), its metadata and the target version's."""
    info = api.get_image_set(datastore_id, image_set_id)
    if info.state == "LOCKED":
        info = wait_until_settled(api, datastore_id, image_set_id, info.version_id, policy, sleep=sleep)
    target = api.get_image_set_metadata(datastore_id, image_set_id, version=to_version)
    current = api.get_image_set_metadata(datastore_id, image_set_id, version=info.version_id)
    return RevertPlan(datastore_id, image_set_id, info.version_id, str(to_version), target, current)


def run_revert(
    api: HealthImagingAPI, plan: RevertPlan, policy: WaitPolicy,
    *, sleep: Callable[[float], None] = time.sleep,
) -> RevertResult:
    """Send the guarded revert, wait for it, and compare the new version with the target."""
    try:
        answer = api.revert_image_set(plan.datastore_id, plan.image_set_id, plan.current_version, plan.to_version)
    except StaleVersion as exc:
        return RevertResult("stale", plan, current_version=exc.current_version)
    except ReconcilerError as exc:
        return RevertResult("failed", plan, message=str(exc))
    new = answer.latest_version_id
    try:
        info = wait_until_settled(api, plan.datastore_id, plan.image_set_id, new, policy, sleep=sleep)
        if info.workflow_status == "UPDATE_FAILED" or info.state != "ACTIVE":
            why = info.message or f"state {info.state}, status {info.workflow_status}"
            return RevertResult("failed", plan, new_version=new, message=f"UPDATE_FAILED on version {new}: {why}")
        after = api.get_image_set_metadata(plan.datastore_id, plan.image_set_id, version=new)
    except ReconcilerError as exc:
        return RevertResult("failed", plan, new_version=new, message=str(exc))
    differ = list(differing_paths(plan.target, after))
    if differ:
        shown = ", ".join(".".join(p) for p in differ[:5])
        return RevertResult("failed", plan, new_version=new,
                            message=f"version {new} differs from version {plan.to_version} at {shown}")
    return RevertResult("reverted", plan, new_version=new)


def differing_paths(a: Any, b: Any, prefix: tuple[str, ...] = ()) -> Iterator[tuple[str, ...]]:
    """Paths where two metadata documents differ (never the values)."""
    if isinstance(a, Mapping) and isinstance(b, Mapping):
        for key in sorted(set(a) | set(b)):
            if key not in a or key not in b:
                yield (*prefix, key)
            else:
                yield from differing_paths(a[key], b[key], (*prefix, key))
    elif a != b:
        yield prefix
