"""What an apply leaves in the drift state for a replacement: the entry and every selector that found the
retired image set move to its new ID; a replacement that did not converge leaves the selectors alone, and a
selector change nothing recorded is counted in the summary of every format."""

from __future__ import annotations

import json

from reconciler.api import BackendIdentity
from reconciler.plan.incremental import after_apply, desired_digest, selector_digest, study_digest
from reconciler.plan.model import ImageSetPlan, Membership, Plan
from reconciler.plan.runinfo import RunInfo
from reconciler.plan.state import DriftState, Entry, StateKey
from reconciler.render.json_out import render_json
from reconciler.render.markdown import render_markdown
from reconciler.render.redact import Redactor
from reconciler.render.text import render_text

KEY = StateKey(b"a secret of sixteen+ characters, and more")
DS, OTHER_DS = "d" * 32, "c" * 32
OLD, NEW, KEPT = "1" * 32, "2" * 32, "3" * 32
DESIRED = {"Patient": {"DICOM": {"PatientName": "QQNEW^ZZNAME"}}}
BY_STUDY = selector_digest(KEY, DS, ("DICOMStudyInstanceUID", "1.2.3"))
BY_PATIENT = selector_digest(KEY, DS, ("DICOMPatientId", "P1"))
ELSEWHERE = selector_digest(KEY, OTHER_DS, ("DICOMPatientId", "P1"))


def state() -> DriftState:
    entries = {(DS, OLD): Entry("4", "stale digest", 10.0, None, study_digest(KEY, "1.2.3")),
               (DS, KEPT): Entry("1", "kept digest", 10.0, None, None)}
    selectors = {BY_STUDY: (DS, frozenset({OLD})), BY_PATIENT: (DS, frozenset({OLD, KEPT})),
                 ELSEWHERE: (OTHER_DS, frozenset({OLD}))}
    return DriftState(BackendIdentity("local", "/s"), entries, {DS: 10.0}, selectors)


def plan(desired: dict[str, object] | None = None) -> Plan:
    return Plan((ImageSetPlan(DS, OLD, "4", "replace", desired=desired or DESIRED, study="1.2.3"),))


def test_a_converged_replacement_moves_the_entry_and_the_selectors_to_the_new_id() -> None:
    s = state()
    after_apply(s, plan(), {(DS, OLD): "1"}, KEY, 20.0, {(DS, OLD): NEW})
    assert (DS, OLD) not in s.entries
    assert s.entries[(DS, NEW)] == Entry("1", desired_digest(KEY, DESIRED), 20.0, 20.0, study_digest(KEY, "1.2.3"))
    assert s.entries[(DS, KEPT)].digest == "kept digest"
    assert s.selectors[BY_STUDY] == (DS, frozenset({NEW}))
    assert s.selectors[BY_PATIENT] == (DS, frozenset({NEW, KEPT}))
    assert s.selectors[ELSEWHERE] == (OTHER_DS, frozenset({OLD}))  # another datastore: another image set


def test_a_replacement_that_did_not_converge_drops_the_entry_and_keeps_the_selectors() -> None:
    s = state()
    after_apply(s, plan(), {(DS, OLD): None}, KEY, 20.0, {})
    assert (DS, OLD) not in s.entries and (DS, NEW) not in s.entries
    assert s.selectors == state().selectors  # the next drift run reads it, and reports what it finds


def test_a_replacement_that_changes_the_study_uid_records_the_new_study() -> None:
    desired = {"Study": {"DICOM": {"StudyInstanceUID": "1.2.4"}}}
    s = state()
    after_apply(s, plan(desired), {(DS, OLD): "1"}, KEY, 20.0, {(DS, OLD): NEW})
    assert s.entries[(DS, NEW)].study == study_digest(KEY, "1.2.4")


def changed_selector() -> Plan:
    unchanged = ImageSetPlan(DS, KEPT, "1", "none")
    return Plan((unchanged,), run=RunInfo(incremental=True),
                membership=(Membership("specs/a.yaml:1", DS, "DICOMPatientId", (NEW,), ()),))


def test_every_summary_says_a_selector_changed() -> None:
    redactor = Redactor(key=b"k")
    text = render_text(changed_selector(), redactor, drift=True)
    assert ("Plan: 0 to update, 1 unchanged, 1 selector lost or gained image sets, 0 with errors (0 to add, 0 to "
            "change, 0 to remove); 0 requests.") in text
    assert render_markdown(changed_selector(), redactor, drift=True).startswith(
        "### Drift report: 0 to update, 1 unchanged, 1 selector lost or gained image sets, 0 with errors\n")
    assert json.loads(render_json(changed_selector(), redactor))["summary"]["selectors_changed"] == 1


def test_a_summary_without_a_changed_selector_does_not_mention_selectors() -> None:
    p = Plan((ImageSetPlan(DS, KEPT, "1", "none"),), run=RunInfo(incremental=True))
    assert "selector" not in render_text(p, Redactor(key=b"k"), drift=True)
    assert json.loads(render_json(p, Redactor(key=b"k")))["summary"]["selectors_changed"] == 0
