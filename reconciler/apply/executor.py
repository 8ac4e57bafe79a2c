"""The executor: apply every image set of a plan on a pool of workers, journal it, and stop cleanly.

Image sets run on ``parallelism`` workers, each through ``GuardedApply`` (version check, guarded requests,
wait, verify). The image sets of one study-wide request run on one worker, in order: the image set the
request goes to first, then the planned image sets whose study-level changes it carries (``study_owner``),
each from the versions that request made; if it did not converge they are not sent anything.

The API client's limiter spaces UpdateImageSetMetadata at its rate (from the previous answer, as its
burst is 1: ``reconciler.pacing``), so while one image set is LOCKED the next one's request is already
out (N image sets take about N / rate + one lock).

Stopping (``reconciler.apply.cancel``): on the first request no new update is sent (one waiting for the
rate limiter is not sent either), the ones in flight are waited for and verified for at most
``drain_timeout`` seconds, whatever is left is ``unfinished`` (a request was sent) or ``not_started``,
and the journal ends with ``run_interrupted``. On a second request the run ends at once, with
``run_aborted``. Workers are daemon threads, so a request still out does not hold up the exit; once the
last record is written, nothing more is written to the journal.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from reconciler.api import HealthImagingAPI
from reconciler.apply.cancel import Cancellation
from reconciler.apply.guarded import GuardedApply, Stopped, Verifier, result
from reconciler.apply.journal import Journal
from reconciler.apply.ledger import Ledger
from reconciler.apply.report import ApplyReport, ImageSetResult
from reconciler.apply.units import after_owner, replacement_group, run_units, study_sent
from reconciler.apply.verify import converged_check
from reconciler.apply.waiter import WaitPolicy
from reconciler.plan.model import ImageSetPlan, Plan

POLL = 0.1  # seconds between the main loop's looks at the cancellation while the workers run
HALT_GRACE = 2.0  # after the drain bound: how long workers get to return from the call they are in
NOT_SENT = "the run stopped before anything was sent"


class Observer(Protocol):
    """Progress callbacks; called under the executor's lock, so implementations need no locking."""

    def started(self, total: int) -> None: ...

    def finished(self, result: ImageSetResult) -> None: ...

    def interrupted(self, reason: str, in_flight: int, drain_timeout: float) -> None: ...


@dataclass(frozen=True)
class ApplyOptions:
    parallelism: int = 8
    wait: WaitPolicy = field(default_factory=WaitPolicy)
    drain_timeout: float = 25.0  # after a stop request: the longest wait for the updates in flight


class Executor:
    def __init__(
        self,
        api: HealthImagingAPI,
        journal: Journal,
        *,
        options: ApplyOptions | None = None,
        verifier: Verifier = converged_check,
        observer: Observer | None = None,
        cancel: Cancellation | None = None,
        sleep: Callable[[float], None] | None = None,
        clock: Callable[[], float] = time.monotonic,
        ledger: Ledger | None = None,
    ) -> None:
        self.journal = journal
        self.options = options or ApplyOptions()
        self.observer = observer
        self.cancel = cancel or Cancellation()
        self._lock = threading.RLock()
        self._halt = threading.Event()  # set: waits end at once (drain bound reached, abort, stop)
        self._idle = threading.Event()  # set: every worker has returned
        self._queue: deque[list[int]] = deque()  # groups of image sets (plan indices), each run in order
        self._results: dict[int, ImageSetResult] = {}
        self._sending: set[str] = set()  # image sets handed to the client for an update, with no result yet
        self._sent: set[str] = set()  # of those, the ones whose update was answered (LOCKED, being waited for)
        self._running = 0
        self._over = False  # the run's last record is due: workers still out write nothing more
        self._crash: BaseException | None = None
        self._apply = GuardedApply(api, self._record, wait=self.options.wait, verifier=verifier,
                                   stop_sending=self.cancel.stop_sending, sending=self._mark_sending,
                                   sleep=sleep or self._interruptible_sleep, clock=clock, ledger=ledger)

    def run(self, plan: Plan) -> ApplyReport:
        """Apply every image set of ``plan``; never raises for a per-image-set problem."""
        start = time.monotonic()
        sets = plan.image_sets
        self.journal.record("run_started", image_sets=len(sets), spec_digest=plan.spec_digest or None)
        for isp in sets:
            self._record(isp, "planned", action=isp.action, requests=len(isp.requests))
        if self.observer:
            self.observer.started(len(sets))
        self._start_workers(sets)
        self._supervise()
        with self._lock:
            self._over = True
            if self._crash is not None:  # e.g. the journal cannot be written: the run has no record
                raise self._crash
            results = tuple(self._results.get(i) or self._left_over(isp) for i, isp in enumerate(sets))
        signal = self.cancel.last_reason if (self.cancel.last_reason or "").startswith("SIG") else None
        report = ApplyReport(results, journal=str(self.journal.path), elapsed=time.monotonic() - start,
                             interrupted=self.cancel.requested, signal=signal, aborted=self.cancel.aborted)
        fields: dict[str, Any] = {"exit_code": report.exit_code, **report.summary()}
        if not report.interrupted:
            self.journal.record("run_finished", **fields)
        else:
            self.journal.record("run_aborted" if report.aborted else "run_interrupted",
                                reason=self.cancel.last_reason, drain_timeout=self.options.drain_timeout, **fields)
        return report

    def stop(self) -> None:
        """Stop now (thread-safe): no further request is sent and waits end at once."""
        self.cancel.request("stop")
        self._halt.set()

    # ------------------------------------------------------------------ workers and the main loop

    def _start_workers(self, sets: Sequence[ImageSetPlan]) -> None:
        self._queue.extend(run_units(sets))
        self._running = max(1, min(self.options.parallelism, len(self._queue)))
        for n in range(self._running):
            threading.Thread(target=self._work, args=(sets,), name=f"apply-{n}", daemon=True).start()

    def _work(self, sets: Sequence[ImageSetPlan]) -> None:
        try:
            while not (self.cancel.requested or self._halt.is_set()):
                with self._lock:
                    if not self._queue:
                        break
                    group = self._queue.popleft()
                if replacement_group(sets, group):
                    if self._run_group(sets, group) is None:
                        return
                    continue
                owner: ImageSetResult | None = None
                for n, index in enumerate(group):
                    if n and (self.cancel.requested or self._halt.is_set()):
                        break  # the rest of the group is left over: not started
                    outcome = self._run_one(sets, index, owner)
                    if outcome is None:
                        return
                    owner = owner or outcome
        except BaseException as exc:  # handed to the main thread, which raises it
            with self._lock:
                self._crash = self._crash or exc
            self._halt.set()
        finally:
            with self._lock:
                self._running -= 1
                if self._running == 0:
                    self._idle.set()

    def _run_one(self, sets: Sequence[ImageSetPlan], index: int, owner: ImageSetResult | None) -> ImageSetResult | None:
        """Apply one image set and record its result; None when the run is over (nothing recorded).

        OWNER: the result of the study-wide request this image set follows (None for the first of a group).
        """
        isp = sets[index]
        try:
            if owner is None:
                outcome = self._apply(isp)
            else:
                outcome = after_owner(isp, owner, sets) or self._apply(isp, after=study_sent(owner, sets))
        except Stopped:  # its wait was ended: the update is in flight, its outcome unknown
            outcome = self._unfinished(isp)
        with self._lock:  # the result and its record together, or neither once the run is over
            if self._over:
                return None
            self._finish(index, isp, outcome)
        return outcome

    def _run_group(self, sets: Sequence[ImageSetPlan], group: list[int]) -> bool | None:
        """Apply one replacement group (its members together) and record each result; None when the run is over."""
        isps = [sets[i] for i in group]
        try:
            outcomes = self._apply.replace_group(isps)
        except Stopped:
            outcomes = [self._unfinished(isp) for isp in isps]
        with self._lock:
            if self._over:
                return None
            for index, isp, outcome in zip(group, isps, outcomes, strict=True):
                self._finish(index, isp, outcome)
        return True

    def _finish(self, index: int, isp: ImageSetPlan, outcome: ImageSetResult) -> None:
        """One image set's result, its journal record and its progress line (under the lock)."""
        self._end(isp, outcome)
        self._results[index] = outcome
        self._sending.discard(isp.image_set_id)
        self._sent.discard(isp.image_set_id)
        if self.observer:
            self.observer.finished(outcome)

    def _supervise(self) -> None:
        """Wait for the workers; on a stop request announce it and bound the drain; on abort return."""
        deadline: float | None = None
        while True:
            try:
                if self._idle.wait(POLL) or self._crash is not None:
                    return
                if self.cancel.aborted:
                    self._halt.set()
                    return
                if self.cancel.requested and deadline is None:
                    deadline = time.monotonic() + self.options.drain_timeout
                    self._announce()
                if deadline is not None and time.monotonic() >= deadline:
                    self._halt.set()  # waits end now; those workers report their image set unfinished
                    self._idle.wait(HALT_GRACE)
                    return
            except KeyboardInterrupt:  # no signal handler installed (a library caller): Ctrl-C asks to stop
                self.cancel.request("SIGINT")

    def _announce(self) -> None:
        with self._lock:
            if self.observer:
                self.observer.interrupted(self.cancel.reason or "stop", len(self._sent),
                                          self.options.drain_timeout)

    def _left_over(self, isp: ImageSetPlan) -> ImageSetResult:
        """The result of an image set the run did not finish (called under the lock, after the run)."""
        outcome = self._unfinished(isp) if isp.image_set_id in self._sending else result(isp, "not_started")
        if outcome.status == "unfinished":  # the never-started ones need no record: "planned" is their last
            self._end(isp, outcome)
        return outcome

    def _unfinished(self, isp: ImageSetPlan) -> ImageSetResult:
        """An image set whose update was in flight (sent, or maybe sent) when its wait was ended."""
        message = ("aborted while its update was in flight: it may have been applied; re-plan to see where it is"
                   if self.cancel.aborted else
                   "the run stopped while its update was in flight; re-plan to see where it is")
        return result(isp, "unfinished", message=message)

    def _interruptible_sleep(self, seconds: float) -> None:
        """Sleep between polls, but wake at once (and stop waiting) when the waits are halted."""
        if self._halt.wait(seconds):
            raise Stopped

    # ------------------------------------------------------------------ the journal

    def _mark_sending(self, isp: ImageSetPlan) -> None:
        with self._lock:
            self._sending.add(isp.image_set_id)

    def _end(self, isp: ImageSetPlan, outcome: ImageSetResult) -> None:
        """The record of an image set's result (none for ``unchanged``: ``planned`` says it all)."""
        status = outcome.status
        if status == "converged":
            # converged with nothing sent: found already applied (a replacement names its new image set instead)
            already = outcome.requests_sent == 0 and outcome.replaced_by is None
            self._write(isp, status, version=outcome.final_version, already_applied=already or None,
                        replacedBy=outcome.replaced_by)
        elif status == "stale":
            self._write(isp, status, planned=isp.version_id, current=outcome.current_version,
                        reason=outcome.message)
        elif status == "not_started":
            self._write(isp, status, reason=NOT_SENT)
        elif status != "unchanged":
            self._write(isp, status, reason=outcome.message, version=outcome.final_version)

    def _record(self, isp: ImageSetPlan, event: str, **fields: Any) -> None:
        """A step of ISP (planned, submitting, submitted, updated); dropped once the run is over."""
        with self._lock:
            if not self._over:
                self._write(isp, event, **fields)
                if event == "submitted":
                    self._sent.add(isp.image_set_id)

    def _write(self, isp: ImageSetPlan, event: str, **fields: Any) -> None:
        self.journal.record(event, datastoreId=isp.datastore_id, imageSetId=isp.image_set_id,
                            plannedVersion=isp.version_id, **fields)
