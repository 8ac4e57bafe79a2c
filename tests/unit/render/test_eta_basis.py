"""The plan's ETA says which rate it assumes: the documented quota, the rate learned for this account,
or --rate's (unit: the rates a limiter starts the writes at, and the note beside the ETA)."""

from __future__ import annotations

import pytest

from reconciler.plan.model import Plan
from reconciler.ratelimit import RateLimiter
from reconciler.render.common import eta_line
from reconciler.render.replacement import Rates

UPDATE = "UpdateImageSetMetadata"


@pytest.mark.parametrize(("rates", "learned", "update", "note"), [
    ({}, {}, 0.25, " (the documented quota; apply learns this account's rate from its answers)"),
    ({}, {UPDATE: 9.5}, 9.5, " (the rate learned for this account)"),
    ({UPDATE: 2.0}, {UPDATE: 9.5}, 2.0, " (as --rate sets it)"),
])
def test_the_eta_names_the_rate_it_assumes(rates: dict[str, float], learned: dict[str, float], update: float,
                                           note: str) -> None:
    paced = Rates.paced(RateLimiter(rates, adaptive=True, learned=learned))
    assert (paced.update, paced.copy, paced.note) == (update, 0.25, note)
    assert eta_line(38, paced.update, paced.note).endswith(f"at {update:g}/s{note}")


def test_a_plan_keeps_the_rates_its_eta_assumed() -> None:
    kept = Rates(9.5, 0.25, 0.25, "learned")
    plan = Plan((), rates=kept.written())
    assert Rates.of_plan(plan, Rates()) == kept
    assert Rates.of_plan(Plan(()), Rates()) == Rates()  # an older saved plan: the run's own
    assert Rates().note == ""
