"""Apply a replacement (action ``replace``): the way AWS documents for changes a primary image set refuses
(https://docs.aws.amazon.com/healthimaging/latest/devguide/update-image-set-metadata.html), as a journalled
state machine that a re-run finishes from wherever a crash left it.

Steps, each journalled before its request (``*ing``) and after its answer, fsync'd both times:

1. ``copy_submitting`` / ``copy_submitted`` / ``copied``: CopyImageSet of the primary at the planned
   version (guarded) into a new non-primary image set; once COPIED, the copy must hold every SOP instance
   of the original (count and keyed digest, ``reconciler.apply.instances``).
2. ``copy_updating`` / ``copy_updated``: the plan's requests, guarded, to the copy (it is not primary:
   Patient/Series changes are allowed, forced UID changes with force). Then the copy is verified against
   the plan and must hold the original's instances as the plan leaves them.
3. ``primary_deleting`` / ``primary_deleted``: only now, after GetImageSet shows the primary still at the
   planned version, is it deleted; the copy holds everything it held (DeleteImageSet has no version guard).
4. ``promoting`` / ``promote_submitted`` / ``promoted``: CopyImageSet of the copy with ``promoteToPrimary``
   (the service refuses it while another primary holds the same instances, hence after step 3: this is
   the window without a primary, one deletion and one copy long). The new image set (a new ID) is
   verified against the plan and must hold the copy's instances.
5. ``temp_deleting`` / ``temp_deleted``: the temporary copy is deleted, only once the new primary is
   verified, so no instance is ever held only by an image set about to be deleted.

Before step 3 any failure deletes the copy again (the primary still holds everything) and journals
``replace_abandoned``; a primary at another version than planned is stale (exit 3), nothing written to
it. From step 3 on, nothing is deleted that the new primary does not hold, and a failure leaves the steps
done for a re-run to continue (``reconciler.apply.ledger``). Where a request went out and its answer was
never journalled (a kill in between), the live state says: the copy or the new primary is found with
SearchImageSets by study, created after the request's record, holding the expected instances.
"""

from __future__ import annotations

import secrets
import threading
import time
from collections.abc import Callable
from typing import Any, NoReturn, Protocol, cast

from reconciler.api import CopyResult, HealthImagingAPI, ImageSetInfo, study_image_sets
from reconciler.apply.instances import Keys, digest, expected_after, instance_keys
from reconciler.apply.ledger import Ledger, Progress
from reconciler.apply.report import ImageSetResult
from reconciler.apply.waiter import WaitPolicy, WaitTimeout, wait_until_deleted, wait_until_settled
from reconciler.errors import ReconcilerError, StaleVersion
from reconciler.plan.diff import format_path
from reconciler.plan.model import ImageSetPlan, Path

SLACK = 5.0  # seconds: a copy found in the live state may carry a service clock a little behind ours
Verifier = Callable[[ImageSetPlan, Any], Any]


class _Copier(Protocol):
    def copy_image_set(self, datastore_id: str, source_image_set_id: str, source_version: str, *,
                       destination: tuple[str, str] | None = None, subset: Any = None, force: bool = False,
                       promote: bool = False, cancel: threading.Event | None = None) -> CopyResult: ...

    def delete_image_set(self, datastore_id: str, image_set_id: str) -> ImageSetInfo: ...


class Recorder(Protocol):
    def __call__(self, isp: ImageSetPlan, event: str, **fields: Any) -> None: ...


class _End(Exception):
    def __init__(self, result: ImageSetResult) -> None:
        self.result = result


class ReplaceApply:
    """Runs one replacement. Stateless between image sets: safe across threads."""

    def __init__(self, api: HealthImagingAPI, record: Recorder, *, wait: WaitPolicy, verifier: Verifier,
                 stop_sending: threading.Event, sleep: Callable[[float], None],
                 clock: Callable[[], float] = time.monotonic, ledger: Ledger | None = None) -> None:
        self.api = api
        self.copier = cast(_Copier, api)
        self.record = record
        self.wait = wait
        self.verifier = verifier
        self.stop_sending = stop_sending
        self.sleep = sleep
        self.clock = clock
        self.ledger = ledger

    def __call__(self, isp: ImageSetPlan, progress: Progress | None = None) -> ImageSetResult:
        if progress is None:
            progress = self.ledger.progress(isp.datastore_id, isp.image_set_id) if self.ledger else None
        st = progress or Progress(isp.datastore_id, isp.image_set_id)
        if st.done:
            return _result(isp, "converged", final=None, new_id=st.new_id,
                           message=f"already replaced by {st.new_id} (found in the journal)")
        older = None
        if st.planned_version is not None and isp.version_id is not None and st.planned_version != isp.version_id \
                and not st.primary_deleting:  # a replacement of an older version, left half-way: its copy is stale
            older, st = st.copy_id, Progress(isp.datastore_id, isp.image_set_id)
        try:
            run = _Run(self, isp, st)
            if older is not None:
                run.discard(older)
            return run.go()
        except _End as end:
            return end.result


class _Run:
    def __init__(self, owner: ReplaceApply, isp: ImageSetPlan, st: Progress) -> None:
        self.o, self.isp, self.st = owner, isp, st
        self.ds, self.p = isp.datastore_id, isp.image_set_id
        self.sent = 0

    # ------------------------------------------------------------------ the steps

    def go(self) -> ImageSetResult:
        st, isp = self.st, self.isp
        if not st.primary_deleting:
            original = self._check_primary()
            if original is None:
                return _result(isp, "not_started")
            st.salt = st.salt or secrets.token_hex(16)
            expected = expected_after(original, isp)
            self._copy(original)
            version = self._update_copy()
            self._verify_copy(version, expected)
            if self.o.stop_sending.is_set():  # a stop request: do not open the window without a primary now
                return _result(isp, "unfinished", sent=self.sent,
                               message=f"the run stopped before the primary was deleted; the updated copy "
                               f"{st.copy_id} is journalled: run apply again to finish the replacement")
            self._delete_primary(version)
        else:
            self._finish_primary_deletion()
        new_id, new_version, promoted = self._promote()
        if not st.temp_deleted:
            self._delete(st.copy_id or "", "temp_deleting", "temp_deleted", copyId=st.copy_id)
        return _result(isp, "converged", final=new_version, new_id=new_id, sent=self.sent,
                       message=f"{len(promoted)} instances kept; the image set ID changed")

    def _check_primary(self) -> Keys | None:
        """The original's instances, once the primary is found at the planned version; None: stopped."""
        info = self._latest(self.p)
        if info.state == "DELETED" or info.workflow_status in ("DELETING", "DELETED"):
            self._fail("the primary image set was deleted by another writer; nothing was written", abandon=True)
        if info.version_id != self.isp.version_id or info.is_primary is False:
            self._stale(info.version_id)
        if self.st.copy_id is None and self.o.stop_sending.is_set():
            return None
        doc = self._read(self.p, info.version_id)
        return instance_keys(doc)

    def _copy(self, original: Keys) -> None:
        st = self.st
        if st.copy_id is None and st.copy_sending is not None:
            st.copy_id, st.copy_version = self._find_copy(original, st.copy_sending)
            if st.copy_id is not None:
                self._rec("copy_submitted", copyId=st.copy_id, copyVersion=st.copy_version, foundLive=True)
        if st.copy_id is None:
            assert st.salt is not None
            self._rec("copy_submitting", guard=self.isp.version_id, salt=st.salt, instances=len(original),
                      instancesDigest=digest(original, st.salt))
            try:
                answer = self.o.copier.copy_image_set(self.ds, self.p, self.isp.version_id or "")
            except StaleVersion as exc:
                self._stale(exc.current_version)
            except ReconcilerError as exc:
                self._fail(f"CopyImageSet: {exc}", abandon=True)
            self.sent += 1
            st.copy_id, st.copy_version = answer.destination.image_set_id, answer.destination.version_id
            self._rec("copy_submitted", copyId=st.copy_id, copyVersion=st.copy_version)
        if st.copied_version is None:
            copy = self._settled(st.copy_id, st.copy_version or "1")
            if copy.workflow_status == "COPY_FAILED" or copy.state != "ACTIVE":
                self._fail(f"the copy {st.copy_id} failed: {copy.message or copy.workflow_status}", abandon=True)
            held = instance_keys(self._read(st.copy_id, copy.version_id))
            if held != original:
                self._fail(f"the copy {st.copy_id} holds {len(held)} instances, the original {len(original)}",
                           abandon=True)
            st.copy_version = st.copied_version = copy.version_id
            self._rec("copied", copyId=st.copy_id, copyVersion=st.copy_version, instances=len(held))

    def _update_copy(self) -> str:
        st, isp = self.st, self.isp
        copy_id = st.copy_id or ""
        info = self._latest(copy_id)
        if info.workflow_status == "UPDATE_FAILED":
            self._fail(f"an update of the copy {copy_id} failed: {info.message}", abandon=True)
        version = info.version_id
        done = int(version) - int(st.copied_version or version)  # each request made one version of the copy
        total = len(isp.requests)
        for index in range(done, total):
            request = isp.requests[index]
            self._rec("copy_updating", copyId=copy_id, request=index + 1, of=total, guard=version)
            try:
                answer = self.o.api.update_image_set_metadata(self.ds, copy_id, version, updatable=request.updatable,
                                                              removable=request.removable, force=request.force)
            except ReconcilerError as exc:
                self._fail(f"update {index + 1} of {total} of the copy {copy_id}: {exc}", abandon=True)
            self.sent += 1
            settled = self._settled(copy_id, answer.latest_version_id)
            if settled.workflow_status == "UPDATE_FAILED" or settled.state != "ACTIVE":
                self._fail(f"UPDATE_FAILED on the copy {copy_id}: {settled.message}", abandon=True)
            version = st.copy_version = answer.latest_version_id
            self._rec("copy_updated", copyId=copy_id, copyVersion=version, request=index + 1, of=total)
        return version

    def _verify_copy(self, version: str, expected: Keys) -> None:
        copy_id = self.st.copy_id or ""
        doc = self._read(copy_id, version)
        unmet = tuple(self.o.verifier(self.isp, doc))
        if unmet:
            self._fail(f"the copy {copy_id} does not hold the plan after version {version}: {_paths(unmet)}",
                       abandon=True)
        if instance_keys(doc) != expected:
            self._fail(f"the copy {copy_id} does not hold every instance of the original", abandon=True)

    def _delete_primary(self, copy_version: str) -> None:
        info = self._latest(self.p)
        if info.version_id != self.isp.version_id or info.state != "ACTIVE" or info.is_primary is False:
            self._stale(info.version_id)
        self._delete(self.p, "primary_deleting", "primary_deleted", guard=self.isp.version_id,
                     copyId=self.st.copy_id, copyVersion=copy_version)

    def _finish_primary_deletion(self) -> None:
        """A re-run after ``primary_deleting``: the deletion went out, or it did not (the primary is as planned)."""
        if self.st.primary_deleted:
            return
        try:
            info = self.o.api.get_image_set(self.ds, self.p)
        except ReconcilerError:
            info = None
        if info is not None and info.state == "ACTIVE" and info.workflow_status not in ("DELETING", "DELETED") \
                and info.version_id != self.st.planned_version:
            self._stale(info.version_id)  # the deletion did not go out, and another writer came: it keeps all
        self._delete(self.p, "primary_deleting", "primary_deleted", guard=self.st.planned_version,
                     copyId=self.st.copy_id, copyVersion=self.st.copy_version)

    def _promote(self) -> tuple[str, str, Keys]:
        st = self.st
        copy_id, copy_version = st.copy_id or "", st.copy_version or ""
        if st.promoted and st.new_id is not None:  # verified before it was journalled: the copy may be gone
            info = self._latest(st.new_id)
            return st.new_id, info.version_id, instance_keys(self._read(st.new_id, info.version_id))
        held = instance_keys(self._read(copy_id, copy_version))
        if st.new_id is None and st.promoting is not None:
            st.new_id = self._find_promoted(held, st.promoting)
            if st.new_id is not None:
                self._rec("promote_submitted", copyId=copy_id, newId=st.new_id, foundLive=True)
        if st.new_id is None:
            self._rec("promoting", copyId=copy_id, guard=copy_version)
            try:
                answer = self.o.copier.copy_image_set(self.ds, copy_id, copy_version, promote=True)
            except ReconcilerError as exc:
                self._fail(f"the promotion of the copy {copy_id} was refused: {exc}; the copy holds every "
                           "instance: re-run apply to promote it")
            self.sent += 1
            st.new_id = answer.destination.image_set_id
            self._rec("promote_submitted", copyId=copy_id, newId=st.new_id)
        new_id = st.new_id
        new = self._settled(new_id, "1")
        if new.workflow_status == "COPY_FAILED" or new.state != "ACTIVE":
            failed_id, st.new_id, st.promoting = st.new_id, None, None
            self._rec("promote_failed", copyId=copy_id, newId=failed_id, reason=new.message)
            self._fail(f"the promotion of the copy {copy_id} failed ({new.message or new.workflow_status}); "
                       "the copy holds every instance: re-run apply to promote it")
        doc = self._read(new_id, new.version_id)
        promoted = instance_keys(doc)
        if promoted != held:
            self._fail(f"the new primary image set {st.new_id} holds {len(promoted)} instances, the copy "
                       f"{len(held)}; the copy {copy_id} is kept")
        unmet = tuple(self.o.verifier(self.isp, doc))
        if unmet:
            self._fail(f"the new primary image set {st.new_id} does not hold the plan: {_paths(unmet)}; the copy "
                       f"{copy_id} is kept")
        if not st.promoted:
            self._rec("promoted", copyId=copy_id, newId=st.new_id, newVersion=new.version_id,
                      instances=len(promoted), instancesDigest=digest(promoted, st.salt) if st.salt else None)
            st.promoted = True
        return new_id, new.version_id, promoted

    # ------------------------------------------------------------------ the live state

    def _find_copy(self, original: Keys, since: float) -> tuple[str | None, str | None]:
        """The copy an unrecorded CopyImageSet made: non-primary, of the study, created after it was sent,
        holding the original's instances."""
        for hit in self._study(self.isp.study, since):
            if hit.is_primary is False and instance_keys(self._read(hit.image_set_id, None)) == original:
                return hit.image_set_id, hit.version
        return None, None

    def _find_promoted(self, held: Keys, since: float) -> str | None:
        doc = self._read(self.st.copy_id or "", self.st.copy_version)
        study = doc.get("Study", {}).get("DICOM", {}).get("StudyInstanceUID") if isinstance(doc, dict) else None
        for hit in self._study(str(study) if study else self.isp.study, since):
            if hit.is_primary and instance_keys(self._read(hit.image_set_id, None)) == held:
                return str(hit.image_set_id)
        return None

    def _study(self, study: str | None, since: float) -> list[Any]:
        if not study:
            return []
        try:
            hits = list(study_image_sets(self.o.api, self.ds, study))
        except ReconcilerError as exc:
            self._fail(f"could not look for the image sets of the study: {exc}")
        known = {self.p, self.st.copy_id}
        return [h for h in hits if h.image_set_id not in known and (h.created_at or 0.0) >= since - SLACK]

    # ------------------------------------------------------------------ helpers

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

    def _settled(self, image_set_id: str, version: str) -> ImageSetInfo:
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
            self.o.copier.delete_image_set(self.ds, image_set_id)
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
        """Before the primary is deleted: delete the copy again (the primary holds everything it holds)."""
        copy_id = self.st.copy_id
        if copy_id is not None:
            try:
                self._delete(copy_id, "temp_deleting", "temp_deleted", copyId=copy_id)
            except _End:
                return  # the copy stays, and so does the record of it: a re-run deletes or adopts it
        self._rec("replace_abandoned", copyId=copy_id)

    def _stale(self, current: str | None) -> NoReturn:
        self._abandon()
        raise _End(_result(self.isp, "stale", current=current,
                           message=None if not self.st.copy_id else
                           f"the primary image set changed since the plan (planned version {self.isp.version_id}, "
                           f"now {current}); it was not written, and the temporary copy {self.st.copy_id} was "
                           "deleted again"))

    def _fail(self, message: str, *, abandon: bool = False) -> NoReturn:
        if abandon and not self.st.primary_deleting:
            self._abandon()
        raise _End(_result(self.isp, "failed", sent=self.sent, message=message))


def _paths(unmet: tuple[Path, ...]) -> str:
    more = f" and {len(unmet) - 5} more" if len(unmet) > 5 else ""
    return ", ".join(format_path(p) for p in unmet[:5]) + more


def _result(isp: ImageSetPlan, status: Any, *, final: str | None = None, current: str | None = None,
            new_id: str | None = None, sent: int = 0, message: str | None = None) -> ImageSetResult:
    return ImageSetResult(isp.datastore_id, isp.image_set_id, status, isp.version_id, current_version=current,
                          final_version=final, requests_sent=sent, requests_total=len(isp.requests),
                          message=message, replaced_by=new_id)
