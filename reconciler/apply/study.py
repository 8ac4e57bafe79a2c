"""Apply's side of a study-wide request (``includeStudyImageSets``): it changes every primary image set of
the study at once (https://docs.aws.amazon.com/healthimaging/latest/devguide/update-image-set-metadata.html),
so apply checks all of them, not only the one it is sent to.

- Before sending: GetImageSet on each member the plan lists. A member at another version than the plan
  read (or LOCKED) means the study changed since the plan: nothing is sent, the owner is ``stale``.
  (The service guards only the requested image set's version; this check closes most of the rest.)
- After each study-wide request: every member is waited for like the owner (while the update runs they
  are LOCKED, ``UPDATING_FOR_STUDY_CONSISTENCY``), and must end ``UPDATED``.
- At the end: each member's metadata, at the version the requests made, must hold the study-wide
  payloads (``reconciler.apply.verify``).

Messages name image sets, versions and paths, never values.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from reconciler.api import HealthImagingAPI
from reconciler.apply.verify import requests_unmet
from reconciler.apply.waiter import WaitPolicy, WaitTimeout, wait_until_settled
from reconciler.errors import ReconcilerError
from reconciler.plan.diff import format_path
from reconciler.plan.model import ImageSetPlan


def bumped(version: str, by: int) -> str:
    """VERSION after BY more versions (``"3"``, 2 -> ``"5"``)."""
    return str(int(version) + by) if version.isdigit() else version


class StudyApply:
    """The member checks of one owner's study-wide requests. Stateless: safe across threads."""

    def __init__(self, api: HealthImagingAPI, wait: WaitPolicy, sleep: Callable[[float], None],
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.api = api
        self.wait = wait
        self.sleep = sleep
        self.clock = clock

    def changed(self, isp: ImageSetPlan) -> str | None:
        """Why the study is stale (a member moved on since the plan), or None when every member is as read."""
        for member in isp.study_members:
            try:
                info = self.api.get_image_set(isp.datastore_id, member.image_set_id)
            except ReconcilerError as exc:
                return f"image set {member.image_set_id} of the study could not be read ({exc})"
            if info.version_id != member.version_id or info.state != "ACTIVE":
                return (f"the study changed since the plan: image set {member.image_set_id} (a primary image set "
                        f"of the same study, which the study-wide update also changes) is at version "
                        f"{info.version_id} ({info.state}), planned at {member.version_id}; nothing was written")
        return None

    def settle(self, isp: ImageSetPlan, nth: int) -> str | None:
        """After the NTH study-wide request: wait for every member's new version; why one failed, or None."""
        for member in isp.study_members:
            version = bumped(member.version_id, nth)
            try:
                info = wait_until_settled(self.api, isp.datastore_id, member.image_set_id, version, self.wait,
                                          sleep=self.sleep, clock=self.clock)
            except (WaitTimeout, ReconcilerError) as exc:
                return f"study-wide update, image set {member.image_set_id}: {exc}"
            if info.version_id != version or info.workflow_status == "UPDATE_FAILED" or info.state != "ACTIVE":
                why = info.message or f"state {info.state}, status {info.workflow_status}"
                return (f"study-wide update: image set {member.image_set_id} version {info.version_id} (expected "
                        f"{version}): {why}")
        return None

    def unconverged(self, isp: ImageSetPlan, count: int) -> str | None:
        """After COUNT study-wide requests: the members whose metadata does not hold them, or None."""
        study = tuple(r for r in isp.requests if r.study)
        problems: list[str] = []
        for member in isp.study_members:
            version = bumped(member.version_id, count)
            try:
                live = self.api.get_image_set_metadata(isp.datastore_id, member.image_set_id, version=version)
            except ReconcilerError as exc:
                problems.append(f"image set {member.image_set_id}: could not verify version {version} ({exc})")
                continue
            unmet = requests_unmet(study, live)
            if unmet:
                paths = ", ".join(format_path(p) for p in unmet[:5])
                problems.append(f"image set {member.image_set_id} version {version}: {paths} differ")
        if not problems:
            return None
        return "the study-wide update did not converge on every image set of the study: " + "; ".join(problems)

