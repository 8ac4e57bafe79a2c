"""Replacements (action ``replace``) in every output: ``-/+`` and the five steps in text, ``"action":
"replace"`` with its ``replacement`` object in JSON (valid against the plan schema), a row and a section in
markdown; counted in the summary and the ETA; patient data redacted unless --show-phi."""

from __future__ import annotations

import json
import re
from pathlib import Path

import jsonschema
import pytest

from reconciler.plan.model import Change, ImageSetPlan, Plan, Replacement, StudyMember, UpdateRequest
from reconciler.render.json_out import render_json
from reconciler.render.markdown import render_markdown
from reconciler.render.redact import Redactor
from reconciler.render.replacement import Rates, plan_writes, seconds, steps, writes
from reconciler.render.reporters import Style, reporter
from reconciler.render.text import render_text

ROOT = Path(__file__).resolve().parents[3]
SECRET, NEW = "ZZSECRET^PATIENT", "FIXED^NAME"
SERIES = "1.2.840.99.7"
DS = "d" * 32
OLD_ID, UPDATED_ID = "a" * 32, "b" * 32
REASON = "Patient-level metadata elements cannot be updated on a primary image set"


def replaced(requests: int = 1) -> ImageSetPlan:
    """As the planner makes it: the changes are checked for the non-primary copy (``ok``), and the
    replacement names the paths its primary refuses."""
    changes = (
        Change("change", ("Patient", "DICOM", "PatientName"), SECRET, NEW, source="specs/fix.yaml:9"),
        Change("change", ("Study", "Series", SERIES, "DICOM", "SeriesDescription"), "OLD", "NEW"),
        Change("change", ("Study", "DICOM", "StudyDescription"), "A", "B"),  # a primary takes it: no note
    )
    return ImageSetPlan(DS, OLD_ID, "3", "replace", changes=changes,
                        requests=tuple(UpdateRequest(b"{}", None, False) for _ in range(requests)),
                        sources=("specs/fix.yaml:1",), is_primary=True, study="9.9",
                        replacement=Replacement(("specs/fix.yaml:5",), tuple(c.path for c in changes[:2])))


def updated() -> ImageSetPlan:
    change = Change("change", ("Study", "DICOM", "StudyDescription"), "A", "B")
    return ImageSetPlan(DS, UPDATED_ID, "1", "update", changes=(change,),
                        requests=(UpdateRequest(b"{}", None, False),), study="9.8")


def mixed() -> Plan:
    return Plan((updated(), replaced(), ImageSetPlan(DS, "c" * 32, "1", "none")))


def schema_validate(doc: object) -> None:
    schema = json.loads((ROOT / "schemas" / "plan.schema.json").read_text())
    jsonschema.Draft202012Validator(schema).validate(doc)


def test_the_five_steps_and_their_writes() -> None:
    isp = replaced(requests=2)
    names = [(s.name, s.operation, s.writes) for s in steps(isp)]
    assert names == [("copy", "CopyImageSet", 1), ("update_copy", "UpdateImageSetMetadata", 2),
                     ("delete_primary", "DeleteImageSet", 1), ("promote", "CopyImageSet", 1),
                     ("delete_copy", "DeleteImageSet", 1)]
    assert isp.replacement is not None
    assert writes(isp) == 2 + isp.replacement.writes == 6
    assert seconds(isp, Rates()) == pytest.approx(24.0)  # 6 writes at the documented 0.25/s each
    assert seconds(isp, Rates(update=1.0, copy=0.5, delete=2.0)) == pytest.approx(2 / 1 + 2 / 0.5 + 2 / 2)


def test_rates_follow_the_rate_overrides() -> None:
    assert Rates.configured({}) == Rates(0.25, 0.25, 0.25)
    assert Rates.configured({"CopyImageSet": 0.5, "*": 2.0}) == Rates(update=2.0, copy=0.5, delete=2.0)


def test_text_shows_the_replacement_as_its_own_action() -> None:
    redactor = Redactor(key=b"k")
    out = render_text(mixed(), redactor)
    assert "The reconciler will perform the following updates and replacements:" in out
    assert f"# image set {OLD_ID} (datastore {DS}, version 3, primary): replace, 5 writes" in out
    assert f"-/+ image set {OLD_ID} must be replaced: the image set ID changes to a new one (known after apply)" in out
    steps_shown = re.findall(r"^ +(\d)\. (\w+): (.*)$", out, re.MULTILINE)
    assert [(n, op) for n, op, _ in steps_shown] == [
        ("1", "CopyImageSet"), ("2", "UpdateImageSetMetadata"), ("3", "DeleteImageSet"), ("4", "CopyImageSet"),
        ("5", "DeleteImageSet")]
    assert f"copy image set {OLD_ID} to a new non-primary image set (the temporary copy) (1 write, about 4 s)" in out
    assert "1 update of the temporary copy, with the changes below" in steps_shown[1][2]
    assert "promoteToPrimary = NEW image set ID (known after apply)" in steps_shown[3][2]
    assert "delete the temporary copy" in steps_shown[4][2]
    assert "5 writes, about 20 s at the configured write rates" in out
    assert "replace: allow at specs/fix.yaml:5" in out
    assert f"[forces replacement: {REASON}]  (specs/fix.yaml:9)" in out
    assert "SeriesDescription: " in out and "[forces replacement: Series-level metadata elements" in out
    study_line = next(line for line in out.splitlines() if "Study.DICOM.StudyDescription" in line)
    assert "forces replacement" not in study_line  # a primary takes a study-level change in place


def test_text_summary_and_eta_count_the_replacement() -> None:
    out = render_text(mixed(), Redactor(key=b"k"))
    assert ("Plan: 1 to update, 1 to replace, 1 unchanged, 0 with errors (0 to add, 4 to change, 0 to remove); "
            "2 update requests, 6 writes in all.") in out
    # 2 updates + 2 copies + 2 deletes at 0.25/s each
    assert ("6 writes (2 UpdateImageSetMetadata, 2 CopyImageSet, 2 DeleteImageSet), about 24 s at 0.25/s each, "
            "plus the wait for each copy, update and deletion to finish") in out


def test_the_eta_uses_each_operations_rate() -> None:
    out = render_text(mixed(), Redactor(key=b"k"), rates=Rates(update=1.0, copy=0.5, delete=2.0))
    assert "about 7 s at 1/s, 0.5/s and 2/s" in out  # 2/1 + 2/0.5 + 2/2
    assert "5 writes, about 6 s at the configured write rates" in out  # 1/1 + 2/0.5 + 2/2


def test_a_plan_without_replacements_reads_as_before() -> None:
    out = render_text(Plan((updated(),)), Redactor(key=b"k"))
    assert "replace" not in out
    assert "Plan: 1 to update, 0 unchanged, 0 with errors (0 to add, 1 to change, 0 to remove); 1 request." in out
    assert "1 request, about 4 s at 0.25/s" in out


def test_text_colours_the_replacement_marker() -> None:
    out = render_text(mixed(), Redactor(key=b"k"), colour=True)
    assert "\033[31m-\033[0m/\033[32m+\033[0m" in out


def test_json_has_the_replacement_and_validates() -> None:
    doc = json.loads(render_json(mixed(), Redactor(key=b"k")))
    schema_validate(doc)
    assert doc["summary"]["to_replace"] == 1 and doc["summary"]["to_update"] == 1
    assert doc["summary"]["writes"] == 6 and doc["summary"]["requests"] == 2
    entry = doc["image_sets"][1]
    assert entry["action"] == "replace" and entry["requests"] == 1
    r = entry["replacement"]
    assert [s["step"] for s in r["steps"]] == ["copy", "update_copy", "delete_primary", "promote", "delete_copy"]
    assert [s["writes"] for s in r["steps"]] == [1, 1, 1, 1, 1]
    assert r["writes"] == 5 and r["seconds"] == 20.0
    assert r["newImageSetId"] is None and r["newImageSetIdNote"] == "known after apply"
    assert r["sources"] == ["specs/fix.yaml:5"]
    assert r["paths"][0] == ["Patient", "DICOM", "PatientName"]
    assert r["paths"][1][2].startswith("uid:") and SERIES not in json.dumps(doc)
    assert "replacement" not in doc["image_sets"][0]


def test_json_seconds_follow_the_reporters_rates() -> None:
    style = Style(Redactor(key=b"k"), rates=Rates(update=1.0, copy=1.0, delete=1.0))
    doc = json.loads(reporter("json", style).plan(mixed()))
    assert doc["image_sets"][1]["replacement"]["seconds"] == 5.0


def test_the_schema_refuses_a_replace_without_its_replacement() -> None:
    doc = json.loads(render_json(mixed(), Redactor(key=b"k")))
    del doc["image_sets"][1]["replacement"]
    with pytest.raises(jsonschema.ValidationError):
        schema_validate(doc)


def test_markdown_has_a_row_and_a_section() -> None:
    out = render_markdown(mixed(), Redactor(key=b"k"))
    assert out.startswith("### Reconciler plan: 1 to update, 1 to replace, 1 unchanged, 0 with errors")
    assert "| to replace (-/+) | 1 | 1 | 0 | 3 | 0 | 1 |" in out
    assert "**1 image set to replace (-/+)**" in out and "**new image set ID** (known after apply)" in out
    assert f"- `{OLD_ID}` -/+ new ID (known after apply): 5 writes, about 20 s" in out
    assert f"<code>{OLD_ID}: -/+ replace, 5 writes, new image set ID</code>" in out
    assert "6 writes (2 UpdateImageSetMetadata, 2 CopyImageSet, 2 DeleteImageSet), about 24 s" in out
    assert "4. CopyImageSet: copy the temporary copy with promoteToPrimary" in out


@pytest.mark.parametrize("fmt", ["text", "json", "markdown"])
def test_replacements_are_redacted_unless_show_phi(fmt: str) -> None:
    render = {"text": render_text, "json": render_json, "markdown": render_markdown}[fmt]
    hidden = render(mixed(), Redactor(key=b"k"))  # type: ignore[operator]
    assert SECRET not in hidden and NEW not in hidden and SERIES not in hidden
    shown = render(mixed(), Redactor(show_phi=True))  # type: ignore[operator]
    assert SECRET in shown and NEW in shown and SERIES in shown


def test_plan_writes_counts_every_operation() -> None:
    w = plan_writes(Plan((replaced(requests=3), replaced(), updated())))
    assert (w.updates, w.copies, w.deletes, w.total) == (5, 4, 4, 13)


def test_a_study_wide_update_validates_against_the_schema() -> None:
    change = Change("change", ("Study", "DICOM", "StudyDescription"), "A", "B")
    isp = ImageSetPlan(DS, UPDATED_ID, "1", "update", changes=(change,), is_primary=True,
                       requests=(UpdateRequest(b"{}", None, False, study=True),),
                       study_members=(StudyMember("e" * 32, "2"),))
    doc = json.loads(render_json(Plan((isp,)), Redactor(key=b"k")))
    schema_validate(doc)
    assert doc["image_sets"][0]["studyWide"]["requests"] == 1


def test_the_readme_example_is_what_plan_prints() -> None:
    section = (ROOT / "README.md").read_text().split("\n## Replacement\n", 1)[1]
    example = section.split("```text\n", 1)[1].split("```\n", 1)[0]
    change = Change("change", ("Patient", "DICOM", "PatientName"), "DOE^JANE", "DOE^JOHN", source="specs/fix.yaml:9")
    isp = ImageSetPlan("12345678901234567890123456789012", "3c6f0b6a1e2d4f5a8b9c0d1e2f3a4b5c", "3", "replace",
                       changes=(change,), requests=(UpdateRequest(b"{}", None, False),), is_primary=True,
                       replacement=Replacement(("specs/fix.yaml:5",), (change.path,)))
    out = render_text(Plan((isp,)), Redactor(key=b"k"))
    assert example in out
