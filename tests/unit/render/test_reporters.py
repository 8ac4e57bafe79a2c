"""Reporters chosen by name from one dict: every --format a command offers is a reporter, and the drift
JSON with blame is the plan JSON with blame members added (one document, built once)."""

from __future__ import annotations

import argparse
import json

import pytest

from reconciler.cli import build_parser
from reconciler.plan.blame import Blame, ImageSetBlame
from reconciler.plan.model import Change, ImageSetPlan, Plan
from reconciler.render.json_out import plan_json
from reconciler.render.redact import Redactor
from reconciler.render.reporters import REPORTERS, Style, reporter

PATH = ("Study", "DICOM", "StudyDescription")
PLAN = Plan((ImageSetPlan("d" * 32, "a" * 32, "3", "update", changes=(Change("change", PATH, "A", "B"),)),))
BLAMES = {("d" * 32, "a" * 32): ImageSetBlame("a" * 32, {PATH: Blame(PATH, "2", 0.0)}, 3)}


def format_choices() -> dict[str, list[str]]:
    sub = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    found = {}
    for name, parser in sub.choices.items():
        for action in parser._actions:
            if action.dest == "format":
                found[name] = list(action.choices or [])
    return found


def test_every_format_a_command_offers_is_a_reporter() -> None:
    choices = format_choices()
    assert set(choices) == {"validate", "plan", "apply", "drift", "history", "ls"}
    assert {c for cs in choices.values() for c in cs} <= set(REPORTERS)


def test_drift_json_with_blame_is_the_plan_json_with_blame_added() -> None:
    redactor = Redactor(key=b"k")
    out = json.loads(reporter("json", Style(redactor)).plan(PLAN, drift=True, blames=BLAMES))
    (item,) = out["image_sets"]
    assert item.pop("blameReads") == 3
    assert item["changes"][0].pop("blame") == {"version": "2", "updatedAt": "1970-01-01T00:00:00.000Z",
                                               "sinceFirstVersion": False}
    assert out == plan_json(PLAN, redactor)


@pytest.mark.parametrize("name", sorted(REPORTERS))
def test_blame_is_shown_in_every_format(name: str) -> None:
    out = reporter(name, Style(Redactor(key=b"k"))).plan(PLAN, drift=True, blames=BLAMES)
    assert "version 2" in out or '"version": "2"' in out
