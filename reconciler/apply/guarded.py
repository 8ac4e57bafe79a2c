"""One image set's apply: check its version, send each guarded request, wait for it, verify the result.

Each request carries ``latestVersionId``: the first the version the plan read, each next one the version
the previous request produced once it settled. Before the first request GetImageSet tells whether the
image set is still at the planned version; if not, nothing is sent, so no UpdateImageSetMetadata token
(4 s at the default 0.25/s) is spent: a version that already holds the plan is "already applied" (a
re-run after an interrupt), any other one is stale. A ConflictException (``StaleVersion``) on the first
request (a writer in between) is stale too. Records of the steps go to ``record``; the result itself is
journalled by the caller (``reconciler.apply.executor``), which decides when the run is over.

A study-wide request (``includeStudyImageSets``) also changes the other primary image sets of the study:
they are checked before it is sent, waited for and verified after it (``reconciler.apply.study``). An
image set whose study-level changes went out with another image set's study-wide request starts from the
versions that request made (``bumped``). A replacement (action ``replace``) runs its own steps
(``reconciler.apply.replace``).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from typing import Any, Protocol

from reconciler.api import HealthImagingAPI
from reconciler.apply.ledger import Ledger
from reconciler.apply.replace import ReplaceApply
from reconciler.apply.replace_group import GroupReplace
from reconciler.apply.report import ImageSetResult, Status
from reconciler.apply.study import StudyApply, bumped
from reconciler.apply.verify import converged_check
from reconciler.apply.waiter import WaitPolicy, WaitTimeout, wait_until_settled
from reconciler.errors import Cancelled, ReconcilerError, StaleVersion
from reconciler.plan.diff import format_path
from reconciler.plan.model import ImageSetPlan, Path

Verifier = Callable[[ImageSetPlan, Mapping[str, Any]], Sequence[Path]]
"""Given the plan of one image set and its metadata after the last request: the paths that do not hold."""


class Recorder(Protocol):
    """Writes one journal record about an image set (its steps: submitting, submitted, updated)."""

    def __call__(self, isp: ImageSetPlan, event: str, **fields: Any) -> None: ...


class Stopped(Exception):
    """A wait was ended from outside (the run's drain bound, an abort, ``Executor.stop``)."""


class _Failed(Exception):
    """Internal: ends one image set's run with a result already decided."""

    def __init__(self, result: ImageSetResult) -> None:
        self.result = result


class GuardedApply:
    """The steps of one image set. Thread-safe: it keeps no state between image sets."""

    def __init__(self, api: HealthImagingAPI, record: Recorder, *, wait: WaitPolicy,
                 verifier: Verifier = converged_check, stop_sending: threading.Event,
                 sending: Callable[[ImageSetPlan], None], sleep: Callable[[float], None],
                 clock: Callable[[], float] = time.monotonic, ledger: Ledger | None = None) -> None:
        self.api = api
        self.record = record
        self.wait = wait
        self.verifier = verifier
        self.stop_sending = stop_sending  # set: send no new request
        self.sending = sending  # called before a request is handed to the client
        self.sleep = sleep
        self.clock = clock
        self.study = StudyApply(api, wait, sleep, clock)
        self.replace = ReplaceApply(api, record, wait=wait, verifier=verifier, stop_sending=stop_sending,
                                    sleep=sleep, clock=clock, ledger=ledger)
        self.group = GroupReplace(api, record, wait=wait, verifier=verifier, stop_sending=stop_sending,
                                  sleep=sleep, clock=clock, ledger=ledger)

    def replace_group(self, isps: Sequence[ImageSetPlan]) -> list[ImageSetResult]:
        """The results of a replacement group (``reconciler.apply.replace_group``), one per member."""
        for isp in isps:
            self.sending(isp)
        try:
            return self.group(isps)
        except Stopped:
            raise
        except Exception as exc:  # a bug must not take the other image sets down, nor show a traceback
            return [failed(isp, f"internal error ({type(exc).__name__})", sent=0) for isp in isps]

    def __call__(self, isp: ImageSetPlan, *, after: int = 0) -> ImageSetResult:
        """The result of ISP; never raises for a per-image-set problem (``Stopped`` ends a wait).

        AFTER: how many versions another image set's study-wide requests added to ISP since the plan read it.
        """
        try:
            start = bumped(isp.version_id, after) if after and isp.version_id is not None else isp.version_id
            return self._one(isp, start)
        except _Failed as exc:
            return exc.result
        except Stopped:
            raise
        except Exception as exc:  # a bug must not take the other image sets down, nor show a traceback
            return failed(isp, f"internal error ({type(exc).__name__})", sent=0)

    def _one(self, isp: ImageSetPlan, start: str | None) -> ImageSetResult:
        if isp.action == "none":
            return result(isp, "unchanged", final_version=isp.version_id)
        if isp.action == "error" or start is None:
            return failed(isp, f"not applied: {_first(isp.error) or 'the plan has no version for it'}", sent=0)
        if isp.action == "replace":  # copy, update the copy, delete the primary, promote: its own steps
            self.sending(isp)
            return self.replace(isp)
        moved = self._moved_since_plan(isp, start)
        if moved is not None:
            return moved
        if isp.study_members:
            why = self.study.changed(isp)
            if why is not None:
                return result(isp, "stale", current_version=start, message=why)
        version = start
        total = len(isp.requests)
        for index, request in enumerate(isp.requests):
            if self.stop_sending.is_set():
                return interrupted(isp, index, version)
            self.sending(isp)
            study: dict[str, Any] = {"study": True} if request.study else {}
            members = {"members": [m.image_set_id for m in isp.study_members]} if request.study else {}
            self.record(isp, "submitting", request=index + 1, of=total, guard=version, **study, **members)
            try:
                answer = self.api.update_image_set_metadata(
                    isp.datastore_id, isp.image_set_id, version, updatable=request.updatable,
                    removable=request.removable, force=request.force, cancel=self.stop_sending,
                    include_study=request.study,
                )
            except Cancelled:  # the stop came while the request waited for the rate limiter: not sent
                return interrupted(isp, index, version)
            except StaleVersion as exc:
                return self._stale(isp, exc, index)
            except ReconcilerError as exc:
                return failed(isp, f"request {index + 1} of {total}: {exc}", sent=index)
            new_version = answer.latest_version_id
            self.record(isp, "submitted", request=index + 1, of=total, guard=version, version=new_version, **study)
            self._settle(isp, new_version, index)
            if request.study:
                why = self.study.settle(isp, sum(r.study for r in isp.requests[: index + 1]))
                if why is not None:
                    return failed(isp, why, sent=index + 1, final=new_version)
            version = new_version
        return self._verify(isp, version, total)

    def _moved_since_plan(self, isp: ImageSetPlan, start: str) -> ImageSetResult | None:
        """None when the image set is still at the planned version; else its result, with nothing sent.

        One GetImageSet (25/s by default) instead of a guarded update that is bound to be refused: an
        image set found already applied must not spend an UpdateImageSetMetadata token.
        """
        try:
            info = self.api.get_image_set(isp.datastore_id, isp.image_set_id)
            if info.version_id == start:
                return None
            if info.state == "LOCKED":  # e.g. the update of an interrupted run: judge the version it makes
                info = wait_until_settled(self.api, isp.datastore_id, isp.image_set_id, info.version_id,
                                          self.wait, sleep=self.sleep, clock=self.clock)
        except (WaitTimeout, ReconcilerError) as exc:
            return failed(isp, str(exc), sent=0)
        except Stopped:  # the run stopped while another update of it was LOCKED: ours was never sent
            return interrupted(isp, 0, isp.version_id)
        return self._found_at(isp, info.version_id)

    def _settle(self, isp: ImageSetPlan, version: str, index: int) -> None:
        try:
            info = wait_until_settled(self.api, isp.datastore_id, isp.image_set_id, version,
                                      self.wait, sleep=self.sleep, clock=self.clock)
        except (WaitTimeout, ReconcilerError) as exc:
            raise _Failed(failed(isp, str(exc), sent=index + 1, final=version)) from None
        if info.workflow_status == "UPDATE_FAILED" or info.state != "ACTIVE":
            why = info.message or f"state {info.state}, status {info.workflow_status}"
            raise _Failed(failed(isp, f"UPDATE_FAILED on version {version}: {why}", sent=index + 1, final=version))
        self.record(isp, "updated", version=version, status=info.workflow_status)

    def _verify(self, isp: ImageSetPlan, version: str, total: int) -> ImageSetResult:
        try:
            live = self.api.get_image_set_metadata(isp.datastore_id, isp.image_set_id, version=version)
            unmet = tuple(format_path(p) for p in self.verifier(isp, live))
        except ReconcilerError as exc:
            return failed(isp, f"could not verify version {version}: {exc}", sent=total, final=version)
        if unmet:
            more = f" and {len(unmet) - 5} more" if len(unmet) > 5 else ""
            message = f"not converged after version {version}: {', '.join(unmet[:5])}{more} differ from the plan"
            return replace(failed(isp, message, sent=total, final=version), unmet=unmet)
        if isp.study_members:
            why = self.study.unconverged(isp, isp.study_requests)
            if why is not None:
                return failed(isp, why, sent=total, final=version)
        return result(isp, "converged", final_version=version, sent=total)

    def _stale(self, isp: ImageSetPlan, exc: StaleVersion, index: int) -> ImageSetResult:
        current = exc.current_version
        if current is None:
            try:
                current = self.api.get_image_set(isp.datastore_id, isp.image_set_id).version_id
            except ReconcilerError:
                current = None
        if index > 0:  # our earlier requests are in: this is a partial write, not a clean stale
            return failed(isp, f"changed by another writer after request {index} of {len(isp.requests)} "
                          f"(now version {current}); re-plan and apply", sent=index)
        return self._found_at(isp, current)

    def _found_at(self, isp: ImageSetPlan, current: str | None) -> ImageSetResult:
        """Nothing of ours was written and the image set is at CURRENT: already applied, or stale."""
        if current is not None and self._already_applied(isp, current):
            return result(isp, "converged", final_version=current,
                          message=f"already applied (found at version {current})")
        return result(isp, "stale", current_version=current)

    def _already_applied(self, isp: ImageSetPlan, version: str) -> bool:
        """True when a newer version already holds everything the plan wanted (a re-run after a stop)."""
        try:
            live = self.api.get_image_set_metadata(isp.datastore_id, isp.image_set_id, version=version)
            return not self.verifier(isp, live)
        except ReconcilerError:
            return False


def result(isp: ImageSetPlan, status: Status, *, final_version: str | None = None, current_version: str | None = None,
           sent: int = 0, message: str | None = None) -> ImageSetResult:
    return ImageSetResult(isp.datastore_id, isp.image_set_id, status, isp.version_id, current_version=current_version,
                          final_version=final_version, requests_sent=sent, requests_total=len(isp.requests),
                          message=message)


def failed(isp: ImageSetPlan, message: str, *, sent: int, final: str | None = None) -> ImageSetResult:
    return result(isp, "failed", final_version=final, sent=sent, message=message)


def interrupted(isp: ImageSetPlan, index: int, version: str | None) -> ImageSetResult:
    """The run stopped before request INDEX was sent: untouched (INDEX 0), or part-way."""
    if index == 0:
        return result(isp, "not_started")
    return result(isp, "unfinished", final_version=version, sent=index,
                  message=f"the run stopped after request {index} of {len(isp.requests)} (now version {version}); "
                  "re-plan and apply to finish it")


def _first(error: str | None) -> str | None:
    """A plan error for the one-line report: its first line, and how many more the plan shows."""
    lines = (error or "").splitlines()
    more = f" (and {len(lines) - 1} more, listed in the plan)" if len(lines) > 1 else ""
    return lines[0] + more if lines else None
