"""One redaction rule everywhere (DICOM PS3.15 Annex E, Table E.1-1): UIDs of the table as ``uid:HASH``
(values, series and instance keys in paths, study labels, messages), every other attribute of the table
as ``<redacted:HASH>``; the key, the once-per-run note, and the fingerprints a saved plan carries."""

from __future__ import annotations

import json

import pytest

from reconciler.apply.report import ApplyReport, ImageSetResult
from reconciler.errors import UsageError
from reconciler.plan.blame import Blame, ImageSetBlame
from reconciler.plan.model import Change, ImageSetPlan, Plan, UpdateRequest
from reconciler.render.apply_report import report_json, report_lines
from reconciler.render.json_out import plan_fingerprints, render_json
from reconciler.render.markdown import render_markdown
from reconciler.render.redact import ENV_KEY, Redactor, digest
from reconciler.render.reporters import Style, reporter
from reconciler.render.text import render_text

KEY = b"unit-tests-redaction-key-0123456789"
STUDY, SERIES, SOP = "1.2.840.99.1", "1.2.840.99.1.2", "1.2.840.99.1.2.3"
SECRET = "ZZSECRET^PATIENT"


def change_plan(study: str = STUDY, n: int = 0) -> ImageSetPlan:
    series_path = ("Study", "Series", SERIES, "DICOM", "BodyPartExamined")
    changes = (
        Change("change", ("Patient", "DICOM", "PatientName"), SECRET, "NEW^NAME", source="specs/a.yaml:9"),
        Change("change", series_path, "OLD", "NEW", source="specs/a.yaml:14"),
        Change("remove", ("Study", "Series", SERIES, "Instances", SOP), None, None, node=True,
               source="specs/a.yaml:17"),
        Change("change", ("Study", "Series", SERIES, "Instances", SOP, "DICOM", "ReferencedSOPInstanceUID"),
               SOP + ".1", SOP + ".2", source="specs/a.yaml:19"),
    )
    return ImageSetPlan("d" * 32, f"{n:032x}", "1", "update", changes=changes, study=study,
                        requests=(UpdateRequest(b"{}", b"{}", False),), sources=("specs/a.yaml:1",))


def error_plan() -> ImageSetPlan:
    return ImageSetPlan("d" * 32, "e" * 32, "1", "error", sources=("specs/b.yaml:1",), study=STUDY,
                        error=f"Study.Series[{SERIES}].Instances[{SOP}] (specs/b.yaml:7): forbidden: instance "
                              "does not exist in the image set")


def all_formats(plan: Plan, redactor: Redactor) -> dict[str, str]:
    return {"text": render_text(plan, redactor), "json": render_json(plan, redactor),
            "markdown": render_markdown(plan, redactor)}


@pytest.mark.parametrize("fmt", ["text", "json", "markdown"])
def test_no_uid_and_no_patient_value_in_any_format(fmt: str) -> None:
    plan = Plan((change_plan(), error_plan()))
    out = all_formats(plan, Redactor(key=KEY))[fmt]
    assert not any(uid in out for uid in (STUDY, SERIES, SOP)) and SECRET not in out
    shown = all_formats(plan, Redactor(show_phi=True))[fmt]
    assert all(uid in shown for uid in (SERIES, SOP)) and SECRET in shown


def test_a_uid_has_one_fingerprint_wherever_it_appears() -> None:
    redactor = Redactor(key=KEY)
    plan = Plan((change_plan(), error_plan()))
    text, data = render_text(plan, redactor), json.loads(render_json(plan, redactor))
    series, sop = redactor.uid(SERIES), redactor.uid(SOP)
    assert series.startswith("uid:") and len(series) == 12
    assert f"~ Study.Series[{series}].DICOM.BodyPartExamined: \"OLD\" -> \"NEW\"  (specs/a.yaml:14)" in text
    assert f"- Study.Series[{series}].Instances[{sop}] (instance)" in text
    assert f"!   Study.Series[{series}].Instances[{sop}] (specs/b.yaml:7): forbidden" in text  # the error too
    paths = [c["path"] for c in data["image_sets"][0]["changes"]]
    assert paths[2] == ["Study", "Series", series, "Instances", sop]
    assert f"Study.Series[{series}].Instances[{sop}]" in data["image_sets"][1]["error"]
    # a UID as a value (ReferencedSOPInstanceUID: Table E.1-1, action U) follows the same rule
    ref = data["image_sets"][0]["changes"][3]
    assert (ref["before"], ref["after"]) == (redactor.uid(SOP + ".1"), redactor.uid(SOP + ".2"))


def test_values_the_table_does_not_list_stay_readable() -> None:
    redactor = Redactor(key=KEY)
    assert redactor.value("SOPClassUID", "1.2.840.10008.5.1.4.1.1.2") == "1.2.840.10008.5.1.4.1.1.2"
    assert redactor.value("Modality", "CT") == "CT"
    assert redactor.value("StudyInstanceUID", STUDY) == redactor.uid(STUDY)
    assert redactor.value("StudyInstanceUID", [STUDY + "\x00"]) == [redactor.uid(STUDY)]  # UI padding
    assert redactor.value("PatientName", SECRET).startswith("<redacted:")
    item = redactor.value("DerivationImageSequence", [{"ReferencedSOPInstanceUID": SOP, "ReferencedFrameNumber": "1"}])
    assert item == [{"ReferencedSOPInstanceUID": redactor.uid(SOP), "ReferencedFrameNumber": "1"}]


def test_messages_get_the_same_rule() -> None:
    redactor = Redactor(key=KEY)
    message = f"not converged after version 2: Study.Series[{SERIES}].Instances[{SOP}].DICOM.KVP"
    assert redactor.text(message) == (f"not converged after version 2: Study.Series[{redactor.uid(SERIES)}]"
                                      f".Instances[{redactor.uid(SOP)}].DICOM.KVP")
    assert redactor.text(redactor.text(message)) == redactor.text(message)  # already redacted: kept
    assert Redactor(show_phi=True).text(message) == message


def test_the_apply_report_redacts_paths_in_its_messages() -> None:
    unmet = f"Study.Series[{SERIES}].DICOM.SeriesDescription"
    result = ImageSetResult("d" * 32, "a" * 32, "failed", "1", message=f"not converged after version 2: {unmet}",
                            unmet=(unmet,))
    redactor = Redactor(key=KEY)
    lines = report_lines(ApplyReport((result,)), redactor)
    doc = report_json(ApplyReport((result,)), redactor)
    assert SERIES not in "\n".join(lines) + json.dumps(doc)
    assert doc["image_sets"][0]["unmet"] == [f"Study.Series[{redactor.uid(SERIES)}].DICOM.SeriesDescription"]


def test_blame_matches_changes_by_their_redacted_paths() -> None:
    path = ("Study", "Series", SERIES, "DICOM", "SeriesDescription")
    isp = ImageSetPlan("d" * 32, "a" * 32, "3", "update", changes=(Change("change", path, "A", "B"),))
    blames = {("d" * 32, "a" * 32): ImageSetBlame("a" * 32, {path: Blame(path, "2", 0.0)}, 3)}
    redactor = Redactor(key=KEY)
    doc = json.loads(reporter("json", Style(redactor)).plan(Plan((isp,)), drift=True, blames=blames))
    (change,) = doc["image_sets"][0]["changes"]
    assert change["path"][2] == redactor.uid(SERIES) and change["blame"]["version"] == "2"
    text = reporter("text", Style(redactor)).plan(Plan((isp,)), drift=True, blames=blames)
    assert SERIES not in text and f"Series[{redactor.uid(SERIES)}]" in text


# -- markdown for a pull request ------------------------------------------------------------------------

def test_fifty_studies_roll_up_into_counts_per_action() -> None:
    plan = Plan((*(change_plan(f"{STUDY}.{i}", i) for i in range(50)), error_plan(),
                 ImageSetPlan("d" * 32, "f" * 32, "1", "none", study=STUDY)))
    out = render_markdown(plan, Redactor(key=KEY))
    head, details = out.split("<details><summary>51 studies</summary>", 1)
    assert "| action | image sets | studies | add | change | remove | requests |" in head
    assert "| to update | 50 | 50 | 0 | 150 | 50 | 50 |" in head
    assert "| with errors | 1 | 1 | 0 | 0 | 0 | 0 |" in head and "| unchanged | 1 | 1 | 0 | 0 | 0 | 0 |" in head
    assert "uid:" not in head and "<redacted:" not in head  # no row per study before the details
    study_rows = [line for line in details.split("</details>", 1)[0].splitlines() if line.startswith("| `uid:")]
    assert len(study_rows) == 50  # 51 studies, at most 50 rows, and a line for the rest
    assert "| … 1 more studies |" in details


def test_each_change_in_the_markdown_names_its_spec_line() -> None:
    out = render_markdown(Plan((change_plan(),)), Redactor(key=KEY))
    for line in ("(specs/a.yaml:9)", "(specs/a.yaml:14)", "(specs/a.yaml:17)", "(specs/a.yaml:19)"):
        assert line in out


# -- the key, the note, the fingerprints a saved plan carries --------------------------------------------

def test_a_key_too_short_to_keep_secret_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(ENV_KEY, "x" * 31)
    with pytest.raises(UsageError, match="too short") as info:
        Redactor()
    assert "x" * 31 not in str(info.value)
    monkeypatch.setenv(ENV_KEY, "x" * 32)
    assert Redactor().keyed and Redactor().token("A") == Redactor().token("A")


def test_without_a_key_the_note_comes_once_and_only_when_a_fingerprint_is_made(
    monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(ENV_KEY, raising=False)
    notes: list[str] = []
    redactor = Redactor(on_unkeyed=lambda: notes.append("note"))
    assert redactor.value("Modality", "CT") == "CT" and notes == []
    render_text(Plan((change_plan(),)), redactor)
    assert notes == ["note"]
    render_json(Plan((change_plan(),)), redactor)
    assert notes == ["note"]
    keyed: list[str] = []
    render_text(Plan((change_plan(),)), Redactor(key=KEY, on_unkeyed=lambda: keyed.append("note")))
    assert keyed == []


def test_a_saved_plans_fingerprints_reproduce_its_output_under_any_key() -> None:
    plan = Plan((change_plan(), error_plan()))
    first = Redactor(key=KEY)
    shown = all_formats(plan, first)
    table = plan_fingerprints(plan, first)
    assert all(len(k) == 64 and len(v) == 8 for k, v in table.items())
    assert table[digest(SERIES)] == first.uid(SERIES)[4:] and table[digest(SECRET)] == first.token(SECRET)[10:18]
    later = Redactor(key=b"another-key-entirely-0123456789abcdef", on_unkeyed=lambda: pytest.fail("noted"))
    later.learn(table)
    assert all_formats(plan, later) == shown


def test_the_fingerprints_of_a_plan_shown_with_phi_are_still_kept() -> None:
    plan = Plan((change_plan(),))
    table = plan_fingerprints(plan, Redactor(show_phi=True, key=KEY))
    assert table == plan_fingerprints(plan, Redactor(key=KEY))
    assert SECRET not in json.dumps(table)
