"""Wait for an asynchronous write to finish: poll GetImageSet with backoff until the image set leaves LOCKED.

HealthImaging answers UpdateImageSetMetadata at once with the new version LOCKED/UPDATING; the outcome
(ACTIVE + UPDATED or UPDATE_FAILED with a message) is only visible by polling, as AWS's own sample does.
https://docs.aws.amazon.com/healthimaging/latest/devguide/update-image-set-metadata.html
CopyImageSet is the same for both image sets (LOCKED/COPYING and COPYING_WITH_READ_ONLY_ACCESS, then
COPIED or COPY_FAILED: https://docs.aws.amazon.com/healthimaging/latest/devguide/copy-image-set.html),
DeleteImageSet too (LOCKED/DELETING, then DELETED): ``wait_until_deleted``.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from reconciler.api import HealthImagingAPI, ImageSetInfo
from reconciler.errors import NotFound, ReconcilerError


class WaitTimeout(ReconcilerError):
    """The image set stayed LOCKED longer than the configured bound."""


@dataclass(frozen=True)
class WaitPolicy:
    """Exponential backoff between polls, capped, with a bound on the total wait."""

    initial: float = 0.2
    factor: float = 1.6
    max_interval: float = 5.0
    timeout: float = 900.0

    def intervals(self) -> Callable[[], float]:
        state = {"next": self.initial}

        def step() -> float:
            current = state["next"]
            state["next"] = min(current * self.factor, self.max_interval)
            return current

        return step


def poll_until_unlocked(
    read: Callable[[], ImageSetInfo],
    policy: WaitPolicy,
    timed_out: Callable[[ImageSetInfo], WaitTimeout],
    *,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
) -> ImageSetInfo:
    """READ with backoff (POLICY) until the image set is no longer LOCKED, and return that read; the
    exception TIMED_OUT makes of the last read is raised once ``policy.timeout`` seconds have passed."""
    deadline = clock() + policy.timeout
    next_interval = policy.intervals()
    while True:
        info = read()
        if info.state != "LOCKED":
            return info
        remaining = deadline - clock()
        if remaining <= 0:
            raise timed_out(info)
        sleep(min(next_interval(), remaining))


def wait_until_settled(
    api: HealthImagingAPI,
    datastore_id: str,
    image_set_id: str,
    version: str,
    policy: WaitPolicy,
    *,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
) -> ImageSetInfo:
    """Poll until the image set is no longer LOCKED and return the state of ``version``.

    Polls the latest version; if someone wrote after ``version`` once it settled, the row of ``version``
    itself is read, so its workflow status (UPDATED / UPDATE_FAILED) is the one reported.
    """
    info = poll_until_unlocked(
        lambda: api.get_image_set(datastore_id, image_set_id), policy,
        lambda _last: WaitTimeout(
            f"image set {image_set_id} still LOCKED after {policy.timeout:g} s (version {version})",
            hint="raise --wait-timeout, then re-run apply: converged image sets plan to nothing",
        ),
        sleep=sleep, clock=clock)
    if info.version_id != version:
        info = api.get_image_set(datastore_id, image_set_id, version=version)
    return info


def wait_until_deleted(
    api: HealthImagingAPI,
    datastore_id: str,
    image_set_id: str,
    policy: WaitPolicy,
    *,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
) -> ImageSetInfo:
    """Poll until a deletion is over and return the image set's state: DELETED (an image set no longer
    found counts as DELETED). Raises WaitTimeout while it stays LOCKED, and ReconcilerError when it settles
    in any other state (its deletion did not happen)."""

    def read() -> ImageSetInfo:
        try:
            return api.get_image_set(datastore_id, image_set_id)
        except NotFound:
            return ImageSetInfo(datastore_id, image_set_id, "", "DELETED", "DELETED")

    info = poll_until_unlocked(
        read, policy,
        lambda last: WaitTimeout(
            f"image set {image_set_id} still LOCKED ({last.workflow_status}) after {policy.timeout:g} s",
            hint="raise --wait-timeout, then re-run",
        ),
        sleep=sleep, clock=clock)
    if info.state != "DELETED":
        raise ReconcilerError(
            f"image set {image_set_id} is {info.state} ({info.workflow_status}) at version {info.version_id}:"
            " it was not deleted",
            hint="delete it again",
        )
    return info
