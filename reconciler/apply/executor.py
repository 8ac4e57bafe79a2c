"""The guarded executor: send each image set's requests in order, wait, verify, and journal every step.

Each request carries ``latestVersionId``: the first the version the plan read, each next one the version
the previous request produced once it settled. A ConflictException (``StaleVersion``) on the first request
marks the image set stale with nothing written; the others go on. Image sets run on a pool of
``parallelism`` workers; the API client's limiter spaces UpdateImageSetMetadata at its rate, so while one
image set is LOCKED the next one's request is already out (N image sets take about N / rate + one lock).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from typing import Any, Protocol

from reconciler.api import HealthImagingAPI
from reconciler.apply.journal import Journal
from reconciler.apply.report import ApplyReport, ImageSetResult
from reconciler.apply.verify import converged_check
from reconciler.apply.waiter import WaitPolicy, WaitTimeout, wait_until_settled
from reconciler.errors import ReconcilerError, StaleVersion
from reconciler.plan.diff import format_path
from reconciler.plan.model import ImageSetPlan, Path, Plan

Verifier = Callable[[ImageSetPlan, Mapping[str, Any]], Sequence[Path]]
"""Given the plan of one image set and its metadata after the last request: the paths that do not hold."""


class Observer(Protocol):
    """Progress callbacks; called under the executor's lock, so implementations need no locking."""

    def started(self, total: int) -> None: ...

    def finished(self, result: ImageSetResult) -> None: ...


@dataclass(frozen=True)
class ApplyOptions:
    parallelism: int = 8
    wait: WaitPolicy = field(default_factory=WaitPolicy)


class _Stopped(Exception):
    """Internal: the run was interrupted while a worker waited."""


class _Failed(Exception):
    """Internal: ends one image set's run with a result already decided."""

    def __init__(self, result: ImageSetResult) -> None:
        self.result = result


class Executor:
    def __init__(
        self,
        api: HealthImagingAPI,
        journal: Journal,
        *,
        options: ApplyOptions | None = None,
        verifier: Verifier = converged_check,
        observer: Observer | None = None,
        sleep: Callable[[float], None] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.api = api
        self.journal = journal
        self.options = options or ApplyOptions()
        self.verifier = verifier
        self.observer = observer
        self.sleep = sleep or self._interruptible_sleep
        self.clock = clock
        self._lock = threading.Lock()
        self._stop = threading.Event()

    def run(self, plan: Plan) -> ApplyReport:
        """Apply every image set of ``plan``; never raises for a per-image-set problem."""
        start = time.monotonic()
        sets = plan.image_sets
        self.journal.record("run_started", image_sets=len(sets), spec_digest=plan.spec_digest or None)
        for isp in sets:
            self._journal(isp, "planned", action=isp.action, requests=len(isp.requests))
        if self.observer:
            self.observer.started(len(sets))
        results: list[ImageSetResult | None] = [None] * len(sets)
        workers = max(1, min(self.options.parallelism, len(sets)))
        interrupted = False
        pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="apply")
        futures: list[Future[ImageSetResult]] = []
        try:
            futures = [pool.submit(self._one_reported, isp) for isp in sets]
            for i, fut in enumerate(futures):
                results[i] = fut.result()
        except KeyboardInterrupt:
            interrupted = True
            self.stop()
            pool.shutdown(wait=True, cancel_futures=True)
            for i, fut in enumerate(futures):
                if fut.done() and not fut.cancelled() and fut.exception() is None:
                    results[i] = fut.result()
        finally:
            pool.shutdown(wait=True)
        done = tuple(
            r or self._fail(isp, "interrupted before it was applied", sent=0)
            for r, isp in zip(results, sets, strict=True)
        )
        report = ApplyReport(done, journal=str(self.journal.path), elapsed=time.monotonic() - start,
                             interrupted=interrupted)
        self.journal.record("run_finished", exit_code=report.exit_code, **report.summary())
        return report

    def stop(self) -> None:
        """Ask the workers to stop: no further request is sent and waits end at once (thread-safe)."""
        self._stop.set()

    def _interruptible_sleep(self, seconds: float) -> None:
        """Sleep between polls, but wake at once (and stop waiting) when the run is interrupted."""
        if self._stop.wait(seconds):
            raise _Stopped

    def _one_reported(self, isp: ImageSetPlan) -> ImageSetResult:
        result = self._one_guarded(isp)
        with self._lock:
            if self.observer:
                self.observer.finished(result)
        return result

    def _one_guarded(self, isp: ImageSetPlan) -> ImageSetResult:
        try:
            return self._one(isp)
        except _Failed as exc:
            return exc.result
        except _Stopped:
            return self._fail(isp, "interrupted while waiting for the update to finish", sent=len(isp.requests))
        except Exception as exc:  # a bug must not take the other image sets down, nor show a traceback
            return self._fail(isp, f"internal error ({type(exc).__name__})", sent=0)

    def _one(self, isp: ImageSetPlan) -> ImageSetResult:
        if isp.action == "none":
            return ImageSetResult(isp.datastore_id, isp.image_set_id, "unchanged", isp.version_id,
                                  final_version=isp.version_id)
        if isp.action == "error" or isp.version_id is None:
            return self._fail(isp, f"not applied: {_first(isp.error) or 'the plan has no version for it'}", sent=0)
        version = isp.version_id
        total = len(isp.requests)
        for index, request in enumerate(isp.requests):
            if self._stop.is_set():
                return self._fail(isp, "interrupted", sent=index)
            self._journal(isp, "submitting", request=index + 1, of=total, guard=version)
            try:
                answer = self.api.update_image_set_metadata(
                    isp.datastore_id, isp.image_set_id, version,
                    updatable=request.updatable, removable=request.removable, force=request.force,
                )
            except StaleVersion as exc:
                raise _Failed(self._stale(isp, exc, index)) from None
            except ReconcilerError as exc:
                return self._fail(isp, f"request {index + 1} of {total}: {exc}", sent=index)
            new_version = answer.latest_version_id
            self._journal(isp, "submitted", request=index + 1, of=total, guard=version, version=new_version)
            self._settle(isp, new_version, index)
            version = new_version
        return self._verify(isp, version, total)

    def _settle(self, isp: ImageSetPlan, version: str, index: int) -> None:
        try:
            info = wait_until_settled(self.api, isp.datastore_id, isp.image_set_id, version,
                                      self.options.wait, sleep=self.sleep, clock=self.clock)
        except (WaitTimeout, ReconcilerError) as exc:
            raise _Failed(self._fail(isp, str(exc), sent=index + 1, final=version)) from None
        if info.workflow_status == "UPDATE_FAILED" or info.state != "ACTIVE":
            why = info.message or f"state {info.state}, status {info.workflow_status}"
            raise _Failed(self._fail(isp, f"UPDATE_FAILED on version {version}: {why}",
                                     sent=index + 1, final=version))
        self._journal(isp, "updated", version=version, status=info.workflow_status)

    def _verify(self, isp: ImageSetPlan, version: str, total: int) -> ImageSetResult:
        try:
            live = self.api.get_image_set_metadata(isp.datastore_id, isp.image_set_id, version=version)
            unmet = tuple(format_path(p) for p in self.verifier(isp, live))
        except ReconcilerError as exc:
            return self._fail(isp, f"could not verify version {version}: {exc}", sent=total, final=version)
        if unmet:
            more = f" and {len(unmet) - 5} more" if len(unmet) > 5 else ""
            result = self._fail(isp, f"not converged after version {version}: {', '.join(unmet[:5])}{more} "
                                "differ from the plan", sent=total, final=version)
            return replace(result, unmet=unmet)
        self._journal(isp, "converged", version=version)
        return ImageSetResult(isp.datastore_id, isp.image_set_id, "converged", isp.version_id,
                              final_version=version, requests_sent=total, requests_total=total)

    def _stale(self, isp: ImageSetPlan, exc: StaleVersion, index: int) -> ImageSetResult:
        current = exc.current_version
        if current is None:
            try:
                current = self.api.get_image_set(isp.datastore_id, isp.image_set_id).version_id
            except ReconcilerError:
                current = None
        if index > 0:  # our earlier requests are in: this is a partial write, not a clean stale
            return self._fail(isp, f"changed by another writer after request {index} of "
                              f"{len(isp.requests)} (now version {current}); re-plan and apply",
                              sent=index)
        if current is not None and self._already_applied(isp, current):
            self._journal(isp, "converged", version=current, already_applied=True)
            return ImageSetResult(isp.datastore_id, isp.image_set_id, "converged", isp.version_id,
                                  final_version=current, requests_total=len(isp.requests),
                                  message=f"already applied (found at version {current})")
        self._journal(isp, "stale", planned=isp.version_id, current=current)
        return ImageSetResult(isp.datastore_id, isp.image_set_id, "stale", isp.version_id,
                              current_version=current, requests_total=len(isp.requests))

    def _already_applied(self, isp: ImageSetPlan, version: str) -> bool:
        """True when a newer version already holds everything the plan wanted (a re-run after a crash)."""
        try:
            live = self.api.get_image_set_metadata(isp.datastore_id, isp.image_set_id, version=version)
            return not self.verifier(isp, live)
        except ReconcilerError:
            return False

    def _fail(self, isp: ImageSetPlan, message: str, *, sent: int, final: str | None = None) -> ImageSetResult:
        self._journal(isp, "failed", reason=message, version=final)
        return ImageSetResult(isp.datastore_id, isp.image_set_id, "failed", isp.version_id,
                              final_version=final, requests_sent=sent, requests_total=len(isp.requests),
                              message=message)

    def _journal(self, isp: ImageSetPlan, event: str, **fields: Any) -> None:
        self.journal.record(event, datastoreId=isp.datastore_id, imageSetId=isp.image_set_id,
                            plannedVersion=isp.version_id, **fields)


def _first(error: str | None) -> str | None:
    """A plan error for the one-line report: its first line, and how many more the plan shows."""
    lines = (error or "").splitlines()
    more = f" (and {len(lines) - 1} more, listed in the plan)" if len(lines) > 1 else ""
    return lines[0] + more if lines else None
