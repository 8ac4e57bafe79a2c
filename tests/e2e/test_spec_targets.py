"""Spec targets that would silently do something else are errors once selectors are resolved.

- A ``select`` document and an ``imageSetId`` document (or two selectors) that reach the same image set
  with different values: plan, drift and apply stop with exit 1, naming both files and lines.
- A ``select`` that matches nothing: exit 1 naming file, line and the selector key (never its value),
  unless the document says ``target.allowEmpty: true``.
Nothing is written in either case; no message holds a patient value.
"""

from __future__ import annotations

import io
import json
import subprocess
import time
from pathlib import Path

import pytest

from reconciler.cli import main
from reconciler.commands._common import Streams
from reconciler.emulator.store import Store
from reconciler.render.redact import ENV_KEY
from tests.support import forked
from tests.support.planenv import KEY

DS = "1234567890abcdef1234567890abcdef"
IS1, IS2, IS3 = "a" * 32, "b" * 32, "c" * 32
MRN = "MRN0012345"  # the patient ID both image sets share: patient data, never in a message
OTHER_MRN = "MRN0099999"
STUDY = "1.2.840.99.1"


def live(mrn: str, series: str = "1.1") -> dict[str, object]:
    return {
        "Patient": {"DICOM": {"PatientName": "LIVE^ZZNAME", "PatientID": mrn}},
        "Study": {"DICOM": {"StudyInstanceUID": STUDY, "StudyDescription": "CHEST"},
                  "Series": {series: {"DICOM": {"Modality": "CT"}, "Instances": {"2.1": {"DICOM": {}}}}}},
    }


def head(target: str) -> str:
    return f"apiVersion: reconciler/v1\nkind: ImageSetMetadata\ntarget:\n  datastoreId: {DS}\n{target}"


SELECT = f"  select:\n    DICOMPatientId: {MRN}\n"
BY_ID = f"  imageSetId: {IS2}\n"


def name_spec(target: str, name: str) -> str:
    return head(target) + f"desired:\n  Patient:\n    DICOM:\n      PatientName: {name}\n"


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A store with two image sets of one patient and one of another; specs/ as the working folder."""
    store = Store(tmp_path / "store")
    store.ensure_datastore(DS, "targets")
    store.put_image_set(DS, IS1, live(MRN), is_primary=False)  # these specs change Patient-level names
    store.put_image_set(DS, IS2, live(MRN), is_primary=False)
    store.put_image_set(DS, IS3, live(OTHER_MRN), is_primary=False)
    (tmp_path / "specs").mkdir()
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("RECONCILER_LOCAL", str(tmp_path / "store"))
    monkeypatch.setenv(ENV_KEY, KEY)  # stable fingerprints: stderr starts with the finding, not a note
    return tmp_path


def write(env: Path, **files: str) -> None:
    for name, text in files.items():
        (env / "specs" / f"{name}.yaml").write_text(text)


def run(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = main(list(argv), Streams(out=out, err=err, inp=None))
    return code, out.getvalue(), err.getvalue()


def subprocess_run(*argv: str) -> subprocess.CompletedProcess[str]:
    return forked.run(forked.reconciler(*argv), capture_output=True, text=True, timeout=120,
                          check=False)


def versions(env: Path) -> dict[str, int]:
    store = Store(env / "store")
    return {i: len(store.list_versions(DS, i, now=time.time())) for i in (IS1, IS2, IS3)}


def line_of(env: Path, name: str, needle: str) -> int:
    lines = (env / "specs" / f"{name}.yaml").read_text().splitlines()
    return next(n for n, text in enumerate(lines, start=1) if needle in text)


def no_phi(*texts: str) -> None:
    for text in texts:
        for value in (MRN, OTHER_MRN, "SMITH", "LIVE^ZZNAME"):
            assert value not in text


# -- a select and an imageSetId that meet on one image set --------------------------------------------


@pytest.mark.parametrize("command", [["plan"], ["drift"], ["apply", "--auto-approve"], ["plan", "--format", "json"]])
def test_select_and_image_set_id_with_different_values_is_an_error(env: Path, command: list[str]) -> None:
    write(env, a=name_spec(SELECT, "SMITH^JOHN"), b=name_spec(BY_ID, "SMITH^JOHNNY"))
    before = versions(env)
    code, out, err = run(*command, "specs")
    assert code == 1
    a_line, b_line = line_of(env, "a", "PatientName"), line_of(env, "b", "PatientName")
    assert f"specs/b.yaml:{b_line}:" in err and f"conflicts with specs/a.yaml:{a_line}" in err
    assert f"image set {IS2}" in err and "desired.Patient.DICOM.PatientName" in err
    assert "cannot plan: a problem with the image sets the specs target, shown above" in err
    assert "do not hold" not in err
    assert "Traceback" not in err and out == ""
    no_phi(out, err)
    assert versions(env) == before  # no UpdateImageSetMetadata was sent


def test_validate_alone_cannot_see_it_but_plan_can(env: Path) -> None:
    """The targets differ as written: only resolving the selector shows that they meet."""
    write(env, a=name_spec(SELECT, "SMITH^JOHN"), b=name_spec(BY_ID, "SMITH^JOHNNY"))
    assert run("validate", "specs")[0] == 0
    assert run("plan", "specs")[0] == 1


def test_the_same_value_from_both_documents_is_not_a_conflict(env: Path) -> None:
    """Equal after DICOM normalisation (trailing padding) counts as the same value."""
    write(env, a=name_spec(SELECT, "SMITH^JOHN"), b=name_spec(BY_ID, '"SMITH^JOHN "'))
    code, out, err = run("plan", "--format", "json", "specs")
    assert code == 0, err
    plan = json.loads(out)
    assert sorted(p["imageSetId"] for p in plan["image_sets"] if p["action"] == "update") == [IS1, IS2]
    before = versions(env)
    assert run("apply", "--auto-approve", "specs")[0] == 0
    assert versions(env) == {IS1: before[IS1] + 1, IS2: before[IS2] + 1, IS3: before[IS3]}


def test_an_image_set_the_selector_does_not_reach_is_no_conflict(env: Path) -> None:
    other = name_spec(f"  imageSetId: {IS3}\n", "SMITH^JOHNNY")
    write(env, a=name_spec(SELECT, "SMITH^JOHN"), b=other)
    assert run("plan", "specs")[0] == 0


def test_two_selectors_that_meet_are_reported_once_per_attribute(env: Path) -> None:
    by_study = name_spec(f"  select:\n    DICOMStudyInstanceUID: {STUDY}\n", "SMITH^JOHNNY")
    write(env, a=name_spec(SELECT, "SMITH^JOHN"), b=by_study)
    code, _, err = run("plan", "specs")
    assert code == 1
    assert err.count("conflicts with specs/a.yaml:") == 1
    # the study reaches all three image sets, the patient two of them: they meet on two
    assert (f"image set {IS1}" in err or f"image set {IS2}" in err) and "and 1 more image set" in err
    no_phi(err)


@pytest.mark.parametrize("select_removes", [True, False])
def test_removing_a_series_another_document_sets_is_a_conflict(env: Path, select_removes: bool) -> None:
    """Either order: the selector removes what the imageSetId document sets in, or the other way round."""
    removes, sets = 'desired:\n  Study:\n    Series:\n      "1.1": null\n', \
        'desired:\n  Study:\n    Series:\n      "1.1":\n        DICOM:\n          Modality: MR\n'
    write(env, a=head(SELECT) + (removes if select_removes else sets),
          b=head(BY_ID) + (sets if select_removes else removes))
    before = versions(env)
    code, _, err = run("apply", "--auto-approve", "specs")
    assert code == 1
    what = "removes the series or instance" if select_removes else "sets attributes inside it"
    assert f"conflicts with specs/a.yaml:{line_of(env, 'a', '1.1')}, which {what} for image set {IS2}" in err
    at = line_of(env, "b", "Modality" if select_removes else "1.1")  # the later document's own line
    assert err.startswith(f"specs/b.yaml:{at}:")
    assert versions(env) == before


def test_conflict_through_a_subprocess_prints_no_traceback(env: Path) -> None:
    write(env, a=name_spec(SELECT, "SMITH^JOHN"), b=name_spec(BY_ID, "SMITH^JOHNNY"))
    before = versions(env)
    done = subprocess_run("apply", "--auto-approve", "specs")
    assert done.returncode == 1
    assert "conflicts with specs/a.yaml:" in done.stderr and "Traceback" not in done.stderr
    no_phi(done.stdout, done.stderr)
    assert versions(env) == before


# -- a select that matches nothing --------------------------------------------------------------------

TYPO = "MRN001234"  # one digit short: finds nothing


@pytest.mark.parametrize("command", [["plan"], ["drift"], ["apply", "--auto-approve"]])
def test_select_matching_nothing_is_an_error(env: Path, command: list[str]) -> None:
    write(env, a=name_spec(f"  select:\n    DICOMPatientId: {TYPO}\n", "SMITH^JOHN"))
    before = versions(env)
    code, out, err = run(*command, "specs")
    assert code == 1
    line = line_of(env, "a", "DICOMPatientId")
    assert f"specs/a.yaml:{line}:5: target.select.DICOMPatientId: matches no image set in datastore {DS}" in err
    assert "allowEmpty: true" in err  # says how to allow it
    assert err.rstrip().endswith("fix the spec lines named there. Nothing was planned or written")
    assert "a select that finds no image set" in err  # the last line says what kind of problem it is
    assert TYPO not in err + out and "No changes" not in out and "In sync" not in out
    assert "Traceback" not in err
    no_phi(out, err)
    assert versions(env) == before


def test_only_the_empty_selector_is_reported(env: Path) -> None:
    write(env, a=name_spec(SELECT, "SMITH^JOHN"),
          b=name_spec(f"  select:\n    DICOMAccessionNumber: {TYPO}\n", "SMITH^JOHN"))
    code, _, err = run("plan", "specs")
    assert code == 1
    assert "specs/b.yaml:6:5: target.select.DICOMAccessionNumber: matches no image set" in err
    assert "specs/a.yaml" not in err


def test_allow_empty_accepts_a_selector_that_matches_nothing(env: Path) -> None:
    text = head(f"  select:\n    DICOMPatientId: {TYPO}\n  allowEmpty: true\n") + \
        "desired:\n  Patient:\n    DICOM:\n      PatientName: SMITH^JOHN\n"
    write(env, a=text)
    assert run("validate", "specs")[0] == 0
    for command in (["plan", "--detailed-exitcode"], ["drift"], ["apply", "--auto-approve"]):
        code, out, err = run(*command, "specs")
        assert code == 0, (command, err)
        assert "note: specs/a.yaml:6: target.select.DICOMPatientId matches no image set" in err
        assert "Plan: 0 to update" in out or "No changes" in out or "In sync" in out
        assert TYPO not in err


def test_allow_empty_false_is_the_default(env: Path) -> None:
    text = head(f"  select:\n    DICOMPatientId: {TYPO}\n  allowEmpty: false\n") + \
        "desired:\n  Patient:\n    DICOM:\n      PatientName: SMITH^JOHN\n"
    write(env, a=text)
    assert run("plan", "specs")[0] == 1


def test_allow_empty_needs_a_select_target(env: Path) -> None:
    write(env, a=head(BY_ID + "  allowEmpty: true\n") + "desired:\n  Patient:\n    DICOM:\n      PatientName: X\n")
    code, out, err = run("validate", "specs")
    assert code == 1
    assert "specs/a.yaml:6:3: target.allowEmpty: `allowEmpty` applies only together with `select`" in out + err


def test_empty_selector_through_a_subprocess_prints_no_traceback(env: Path) -> None:
    write(env, a=name_spec(f"  select:\n    DICOMPatientId: {TYPO}\n", "SMITH^JOHN"))
    done = subprocess_run("drift", "specs")
    assert done.returncode == 1
    assert "target.select.DICOMPatientId: matches no image set" in done.stderr
    assert "Traceback" not in done.stderr and TYPO not in done.stderr


def test_two_empty_selectors_are_counted_in_words(env: Path) -> None:
    """The closing line counts the problems and says what kind they are, not "the targets do not hold"."""
    write(env, a=name_spec(f"  select:\n    DICOMPatientId: {TYPO}\n", "SMITH^JOHN"),
          b=name_spec(f"  select:\n    DICOMAccessionNumber: {TYPO}\n", "SMITH^JOHN"))
    code, _, err = run("plan", "specs")
    assert code == 1
    assert err.splitlines()[-1].startswith("error: cannot plan: 2 problems with the image sets the specs target")
    assert err.count("matches no image set") == 2
