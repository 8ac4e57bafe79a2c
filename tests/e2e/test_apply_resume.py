"""Resuming a partly applied plan: image sets found already applied take no UpdateImageSetMetadata token.

The real client (default quotas: UpdateImageSetMetadata 0.25/s, burst 1) on the in-process emulator, with
a fake clock, so the limiter's tokens and waits are counted exactly instead of waited for.
"""

from __future__ import annotations

import threading
from collections import Counter
from pathlib import Path

import pytest

from reconciler.apply.executor import ApplyOptions, Executor
from reconciler.apply.journal import Journal, read_journal
from reconciler.apply.waiter import WaitPolicy
from reconciler.client.healthimaging import HealthImaging
from reconciler.emulator.knobs import EmulatorConfig
from reconciler.pacing import MARGIN, SLACK
from reconciler.plan.model import Plan
from reconciler.ratelimit import Permit, RateLimiter, RetryPolicy
from tests.support.applyenv import make_plan, rename_specs, seed
from tests.support.backends import make_local_client
from tests.support.journalcheck import check_journal

IMAGE_SETS = 5


class FakeTime:
    def __init__(self) -> None:
        self.now = 0.0
        self.slept = 0.0
        self._lock = threading.Lock()

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        with self._lock:
            self.now += seconds
            self.slept += seconds


class CountingLimiter(RateLimiter):
    """The real limiter (default quotas), counting the send slots taken per operation."""

    def __init__(self, time_: FakeTime) -> None:
        super().__init__(clock=time_.clock, sleep=time_.sleep)
        self.tokens: Counter[str] = Counter()

    def begin(self, op: str, cancel: threading.Event | None = None) -> Permit:
        self.tokens[op] += 1
        return super().begin(op, cancel)


def apply(store: Path, plan: Plan, journal_path: Path) -> tuple[dict[str, str], CountingLimiter, FakeTime]:
    """Apply PLAN with a fresh client (a new process's limiter); returns statuses, the limiter and its time."""
    fake = FakeTime()
    limiter = CountingLimiter(fake)
    api = HealthImaging(make_local_client(str(store), EmulatorConfig()), limiter=limiter, retry=RetryPolicy(),
                        clock=fake.clock, sleep=fake.sleep)
    options = ApplyOptions(parallelism=1, wait=WaitPolicy(initial=0.0))
    with Journal(journal_path) as journal:
        report = Executor(api, journal, options=options, sleep=fake.sleep, clock=fake.clock).run(plan)
    check_journal(journal_path, may_end_badly=False)
    return {r.image_set_id: r.status for r in report.results}, limiter, fake


@pytest.fixture
def planned(tmp_path: Path) -> tuple[Path, Plan]:
    store = tmp_path / "store"
    ds, ids = seed(store, IMAGE_SETS)
    return store, make_plan(store, rename_specs(ds, ids))


def test_rerunning_a_fully_applied_plan_takes_no_update_token_and_waits_for_none(
    tmp_path: Path, planned: tuple[Path, Plan]
) -> None:
    store, plan = planned
    first, limiter, _ = apply(store, plan, tmp_path / "first.jsonl")
    assert set(first.values()) == {"converged"} and limiter.tokens["UpdateImageSetMetadata"] == IMAGE_SETS

    again, limiter, fake = apply(store, plan, tmp_path / "again.jsonl")
    assert set(again.values()) == {"converged"}
    assert limiter.tokens["UpdateImageSetMetadata"] == 0
    assert fake.slept == 0.0  # not 4 s per image set
    found = [r for r in read_journal(tmp_path / "again.jsonl") if r["event"] == "converged"]
    assert len(found) == IMAGE_SETS and all(r["already_applied"] for r in found)


def test_resuming_a_partly_applied_plan_spends_tokens_only_on_the_rest(
    tmp_path: Path, planned: tuple[Path, Plan]
) -> None:
    store, plan = planned
    done_first = 3
    apply(store, Plan(plan.image_sets[:done_first], spec_digest=plan.spec_digest), tmp_path / "part.jsonl")

    statuses, limiter, fake = apply(store, plan, tmp_path / "resume.jsonl")
    assert set(statuses.values()) == {"converged"}
    assert limiter.tokens["UpdateImageSetMetadata"] == IMAGE_SETS - done_first
    # the first remaining update goes at once, the second one interval of 0.25/s later (4 s and the pacer's
    # margin), where a slot per image set would have waited four intervals
    assert fake.slept == pytest.approx((1 + MARGIN) / 0.25 + SLACK)
