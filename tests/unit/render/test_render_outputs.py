"""Renderers: text like terraform, JSON per the contract and schema, markdown within 60,000 chars,
patient data redacted everywhere unless --show-phi."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest

from reconciler.plan.model import Change, ImageSetPlan, Plan, UpdateRequest
from reconciler.render.common import eta_line
from reconciler.render.json_out import render_json
from reconciler.render.markdown import render_markdown
from reconciler.render.redact import Redactor
from reconciler.render.text import render_text

ROOT = Path(__file__).resolve().parents[3]
SECRET = "ZZSECRET^PATIENT"
S, INST = "1.2.3", "4.5.6"


def image_set(n: int, study: str = "9.9") -> ImageSetPlan:
    changes = (
        Change("change", ("Patient", "DICOM", "PatientName"), SECRET, "NEW^NAME"),
        Change("add", ("Study", "Series", S, "DICOM", "BodyPartExamined"), None, "CHEST"),
        Change("remove", ("Study", "DICOM", "StudyDescription"), "OLD DESC", None),
        Change("remove", ("Study", "Series", S, "Instances", INST), None, None, node=True),
        Change("change", ("Study", "Series", S, "Instances", INST, "DICOM", "SOPInstanceUID"), "1.1", "1.2",
               "needs force", "identifying attribute", force_in_spec=True),
    )
    return ImageSetPlan("d" * 32, f"{n:032x}", "1", "update", force=True, changes=changes,
                        requests=(UpdateRequest(b"{}", b"{}", True),), study=study)


def plan(n: int = 1) -> Plan:
    unchanged = ImageSetPlan("d" * 32, "e" * 32, "2", "none")
    failed = ImageSetPlan("d" * 32, "f" * 32, None, "error", error="image set ff was not found in datastore dd")
    return Plan((*(image_set(i, study=f"9.{i % 7}") for i in range(n)), unchanged, failed))


def test_text_shows_terraform_like_lines_and_summary() -> None:
    redactor = Redactor(key=b"k")
    out = render_text(plan(), redactor)
    s, inst = redactor.uid(S), redactor.uid(INST)
    assert "~ Patient.DICOM.PatientName: \"<redacted:" in out
    assert f"+ Study.Series[{s}].DICOM.BodyPartExamined: \"CHEST\"" in out
    assert f"- Study.Series[{s}].Instances[{inst}] (instance)" in out
    assert "needs force: identifying attribute; spec has force: true" in out
    assert "Plan: 1 to update, 1 unchanged, 1 with errors (1 to add, 2 to change, 2 to remove); 1 request." in out
    assert "\033[" not in out


def test_text_has_colour_only_when_asked() -> None:
    assert "\033[32m" in render_text(plan(), Redactor(key=b"k"), colour=True)


@pytest.mark.parametrize(
    ("requests", "rate", "line"),
    [(412, 0.25, "412 requests, about 27 min at 0.25/s"), (1, 0.25, "1 request, about 4 s at 0.25/s"),
     (10, 1.0, "10 requests, about 10 s at 1/s")],
)
def test_eta_line(requests: int, rate: float, line: str) -> None:
    assert eta_line(requests, rate) == line


def test_json_matches_the_contract_and_the_schema() -> None:
    data = json.loads(render_json(plan(), Redactor(key=b"k")))
    schema = json.loads((ROOT / "schemas" / "plan.schema.json").read_text())
    jsonschema.Draft202012Validator(schema).validate(data)
    assert data["format_version"] == "1"
    assert data["summary"] == {"image_sets": 3, "to_update": 1, "unchanged": 1, "errors": 1,
                               "add": 1, "change": 2, "remove": 2, "requests": 1, "to_replace": 0, "writes": 1}
    first = data["image_sets"][0]["changes"][0]
    assert first["path"] == ["Patient", "DICOM", "PatientName"]
    assert first["before"].startswith("<redacted:") and first["check"] == "ok"
    assert data["image_sets"][2]["error"].startswith("image set ff")


def test_schema_copies_are_identical() -> None:
    assert (ROOT / "schemas" / "plan.schema.json").read_text() == (
        ROOT / "reconciler" / "schemas" / "plan.schema.json").read_text()


def test_markdown_of_300_image_sets_fits_with_summary_on_top() -> None:
    out = render_markdown(plan(300), Redactor(key=b"k"))
    assert len(out) <= 60_000
    assert out.startswith("### Reconciler plan: 300 to update, 1 unchanged, 1 with errors")
    assert "| study | image sets |" in out
    assert "left out to keep this comment under 60,000 characters" in out


def test_small_markdown_has_everything_and_no_note() -> None:
    out = render_markdown(plan(2), Redactor(key=b"k"))
    assert out.count("<details>") == 4 and "left out" not in out  # the studies, and each image set


@pytest.mark.parametrize("fmt", ["text", "json", "markdown"])
def test_no_phi_in_any_format_without_show_phi(fmt: str) -> None:
    render = {"text": render_text, "json": render_json, "markdown": render_markdown}[fmt]
    assert SECRET not in render(plan(3), Redactor(key=b"k"))  # type: ignore[operator]
    assert SECRET in render(plan(3), Redactor(show_phi=True))  # type: ignore[operator]


def test_redaction_is_a_keyed_fingerprint() -> None:
    a, b = Redactor(key=b"one"), Redactor(key=b"two")
    assert a.value("PatientName", "X^Y") == a.value("PatientName", "X^Y") != a.value("PatientName", "X^Z")
    assert a.value("PatientName", "X^Y") != b.value("PatientName", "X^Y")
    assert a.value("BodyPartExamined", "CHEST") == "CHEST"


def test_redaction_key_from_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RECONCILER_REDACTION_KEY", "stable-key-of-at-least-thirty-two-characters")
    assert Redactor().token("X") == Redactor().token("X")


def test_phi_inside_sequences_is_redacted() -> None:
    value = [{"PatientName": SECRET, "CodeValue": "1"}]
    shown = Redactor(key=b"k").value("OtherPatientIDsSequence", value)
    assert SECRET not in json.dumps(shown)


def test_a_value_with_backticks_cannot_close_the_markdown_code_block() -> None:
    change = Change("add", ("Study", "Series", S, "DICOM", "BodyPartExamined"), None, "```\n# injected")
    isp = ImageSetPlan("d" * 32, "a" * 32, "1", "update", changes=(change,),
                       requests=(UpdateRequest(b"{}", None, False),))
    out = render_markdown(Plan((isp,)), Redactor(key=b"k"))
    assert "````diff" in out and "\n# injected" not in out
