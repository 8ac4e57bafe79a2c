"""What every step of a replacement (``reconciler.apply.replace``) shares: the journal record, reads that
wait out a lock, deletions, and how a replacement ends (stale, failed, abandoned before the primary goes).

Waits use the version each answer gives (an update's ``latestVersionId``, a copy's destination version),
never an assumed one: a new image set need not start at version 1
(https://docs.aws.amazon.com/healthimaging/latest/devguide/copy-image-set.html).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any, NoReturn, Protocol

from reconciler.api import HealthImagingAPI, ImageSetInfo, SearchHit, study_image_sets
from reconciler.apply.instances import Keys, instance_keys
from reconciler.apply.ledger import Ledger, Progress
from reconciler.apply.report import ImageSetResult
from reconciler.apply.waiter import WaitPolicy, WaitTimeout, wait_until_deleted, wait_until_settled
from reconciler.errors import ReconcilerError
from reconciler.plan.diff import format_path
from reconciler.plan.model import ImageSetPlan, Path

Verifier = Callable[[ImageSetPlan, Any], Any]
SLACK = 5.0  # seconds: a copy found in the live state may carry a service clock a little behind ours


class Recorder(Protocol):
    def __call__(self, isp: ImageSetPlan, event: str, **fields: Any) -> None: ...


class End(Exception):
    """Ends a replacement with RESULT (stale, failed, ...)."""

    def __init__(self, result: ImageSetResult) -> None:
        self.result = result


class Owner:
    """What a replacement run needs of its caller: the client, the journal, the waits. Stateless between
    image sets: safe across threads."""

    def __init__(self, api: HealthImagingAPI, record: Recorder, *, wait: WaitPolicy, verifier: Verifier,
                 stop_sending: threading.Event, sleep: Callable[[float], None],
                 clock: Callable[[], float] = time.monotonic, ledger: Ledger | None = None) -> None:
        self.api = api
        self.record = record
        self.wait = wait
        self.verifier = verifier
        self.stop_sending = stop_sending
        self.sleep = sleep
        self.clock = clock
        self.ledger = ledger


class Core:
    """One replacement of one primary image set (ISP), from where its records (ST) leave it."""

    def __init__(self, owner: Owner, isp: ImageSetPlan, st: Progress) -> None:
        self.o, self.isp, self.st = owner, isp, st
        self.ds, self.p = isp.datastore_id, isp.image_set_id
        self.sent = 0
        self.abandoned = False

    def _study(self, study: str | None, since: float) -> list[SearchHit]:
        if not study:
            return []
        try:
            hits = list(study_image_sets(self.o.api, self.ds, study))
        except ReconcilerError as exc:
            self._fail(f"could not look for the image sets of the study: {exc}")
        known = {self.p, self.st.copy_id, self.st.pristine_id}
        return [h for h in hits if h.image_set_id not in known and (h.created_at or 0.0) >= since - SLACK]

    def _made(self, study: str | None, since: float, held: Keys, *, primary: bool) -> SearchHit | None:
        """The image set an unrecorded CopyImageSet made: of STUDY, created after SINCE, primary (PRIMARY) or
        not, holding the instances HELD."""
        for hit in self._study(study, since):
            kind = bool(hit.is_primary) if primary else hit.is_primary is False
            if kind and instance_keys(self._read(hit.image_set_id, None)) == held:
                return hit
        return None

    def _rec(self, event: str, **fields: Any) -> None:
        self.o.record(self.isp, event, **fields)

    def _latest(self, image_set_id: str) -> ImageSetInfo:
        """GetImageSet of the latest version, once it is not LOCKED (a write of ours may still run)."""
        try:
            info = self.o.api.get_image_set(self.ds, image_set_id)
            if info.state == "LOCKED" and info.workflow_status not in ("DELETING", "DELETED"):
                wait_until_settled(self.o.api, self.ds, image_set_id, info.version_id, self.o.wait,
                                   sleep=self.o.sleep, clock=self.o.clock)
                info = self.o.api.get_image_set(self.ds, image_set_id)
            return info
        except (WaitTimeout, ReconcilerError) as exc:
            self._fail(f"image set {image_set_id}: {exc}")

    def _settled(self, image_set_id: str, version: str | None) -> ImageSetInfo:
        """The image set once VERSION (the one its last answer gave) settles; None: the latest one."""
        if version is None:
            return self._latest(image_set_id)
        try:
            return wait_until_settled(self.o.api, self.ds, image_set_id, version, self.o.wait,
                                      sleep=self.o.sleep, clock=self.o.clock)
        except (WaitTimeout, ReconcilerError) as exc:
            self._fail(f"image set {image_set_id}: {exc}")

    def _read(self, image_set_id: str, version: str | None) -> Any:
        try:
            return self.o.api.get_image_set_metadata(self.ds, image_set_id, version=version)
        except ReconcilerError as exc:
            self._fail(f"could not read image set {image_set_id}: {exc}")

    def _delete(self, image_set_id: str, before: str, after: str, **fields: Any) -> None:
        self._rec(before, **fields)
        try:
            self.o.api.delete_image_set(self.ds, image_set_id)
            self.sent += 1
            wait_until_deleted(self.o.api, self.ds, image_set_id, self.o.wait, sleep=self.o.sleep,
                               clock=self.o.clock)
        except (WaitTimeout, ReconcilerError) as exc:
            self._fail(f"DeleteImageSet {image_set_id}: {exc}")
        self._rec(after, **fields)

    def discard(self, copy_id: str) -> None:
        """Delete the copy an older replacement of this primary left, when the primary holds every instance
        it holds (it was copied from it); else keep it (nothing is deleted that only it holds)."""
        try:
            primary = instance_keys(self.o.api.get_image_set_metadata(self.ds, self.p))
            info = self.o.api.get_image_set(self.ds, copy_id)
            if info.state == "DELETED" or info.workflow_status in ("DELETING", "DELETED"):
                return
            held = instance_keys(self.o.api.get_image_set_metadata(self.ds, copy_id))
        except ReconcilerError:
            return
        if held <= primary:
            self._delete(copy_id, "temp_deleting", "temp_deleted", copyId=copy_id)
        self._rec("replace_abandoned", copyId=copy_id, kept=None if held <= primary else True)

    def _abandon(self) -> None:
        """Before the primary is deleted: delete the copy (and a group member's pristine copy) again; the
        primary holds everything they hold."""
        if self.abandoned:
            return
        self.abandoned = True
        copy_id, pristine_id = self.st.copy_id, self.st.pristine_id
        try:
            if copy_id is not None:
                self._delete(copy_id, "temp_deleting", "temp_deleted", copyId=copy_id)
            if pristine_id is not None and not self.st.pristine_deleted:
                self._delete(pristine_id, "pristine_deleting", "pristine_deleted", pristineId=pristine_id)
        except End:
            return  # the copy stays, and so does the record of it: a re-run deletes or adopts it
        self._rec("replace_abandoned", copyId=copy_id, pristineId=pristine_id)

    def _stale(self, current: str | None) -> NoReturn:
        self._abandon()
        raise End(result(self.isp, "stale", current=current,
                         message=None if not self.st.copy_id else
                         f"the primary image set changed since the plan (planned version {self.isp.version_id}, "
                         f"now {current}); it was not written, and the temporary copy {self.st.copy_id} was "
                         "deleted again"))

    def _fail(self, message: str, *, abandon: bool = False) -> NoReturn:
        if abandon and not self.st.primary_deleting:
            self._abandon()
        raise End(result(self.isp, "failed", sent=self.sent, message=message))


def paths(unmet: tuple[Path, ...]) -> str:
    more = f" and {len(unmet) - 5} more" if len(unmet) > 5 else ""
    return ", ".join(format_path(p) for p in unmet[:5]) + more


def result(isp: ImageSetPlan, status: Any, *, final: str | None = None, current: str | None = None,
           new_id: str | None = None, sent: int = 0, message: str | None = None) -> ImageSetResult:
    return ImageSetResult(isp.datastore_id, isp.image_set_id, status, isp.version_id, current_version=current,
                          final_version=final, requests_sent=sent, requests_total=len(isp.requests),
                          message=message, replaced_by=new_id)
