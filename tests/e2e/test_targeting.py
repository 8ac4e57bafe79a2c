"""``--target`` / ``--exclude`` on plan, apply and drift, against the emulator's --local store.

Image set IDs or spec files (every image set their documents target, selectors resolved); the plan
says what was left out in text, JSON (schema-checked) and markdown; an argument that matches nothing is
an error naming it; what is left out is neither read nor written.
"""

from __future__ import annotations

import io
import json
import time
from pathlib import Path

import jsonschema
import pytest

from reconciler.cli import main
from reconciler.commands._common import Streams
from reconciler.emulator.store import Store
from reconciler.persist import Storage
from reconciler.plan.planfile import load_plan

ROOT = Path(__file__).resolve().parents[2]
DS = "1234567890abcdef1234567890abcdef"
IS1, IS2, IS3 = "a" * 32, "b" * 32, "c" * 32
GHOST = "d" * 32  # targeted by a spec, but not in the store: planning it is an error
MRN = "MRN0012345"
FAST = ["--rate", "UpdateImageSetMetadata=100"]


def live(mrn: str) -> dict[str, object]:
    return {"Patient": {"DICOM": {"PatientName": "LIVE^NAME", "PatientID": mrn}},
            "Study": {"DICOM": {"StudyInstanceUID": "1.2.3", "StudyDescription": "CHEST"},
                      "Series": {"1.1": {"DICOM": {"Modality": "CT"}, "Instances": {"2.1": {"DICOM": {}}}}}}}


def spec(target: str, desired: str) -> str:
    head = f"apiVersion: reconciler/v1\nkind: ImageSetMetadata\ntarget:\n  datastoreId: {DS}\n"
    return f"{head}{target}desired:\n{desired}"


NAME = "  Patient:\n    DICOM:\n      PatientName: NEW^NAME\n"
DESCRIPTION = "  Study:\n    DICOM:\n      StudyDescription: HEAD\n"


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """IS1 and IS2 of one patient, IS3 of another; specs/ holds one document per file."""
    store = Store(tmp_path / "store")
    store.ensure_datastore(DS, "targeting")
    for image_set_id, mrn in ((IS1, MRN), (IS2, MRN), (IS3, "OTHER")):
        store.put_image_set(DS, image_set_id, live(mrn), is_primary=False)
    specs = tmp_path / "specs"
    specs.mkdir()
    (specs / "one.yaml").write_text(spec(f"  imageSetId: {IS1}\n", NAME))
    (specs / "patient.yaml").write_text(spec(f"  select:\n    DICOMPatientId: {MRN}\n", DESCRIPTION))
    (specs / "three.yaml").write_text(spec(f"  imageSetId: {IS3}\n", DESCRIPTION))
    (specs / "ghost.yaml").write_text(spec(f"  imageSetId: {GHOST}\n", DESCRIPTION))
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("RECONCILER_LOCAL", str(tmp_path / "store"))
    return tmp_path


def run(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = main(list(argv), Streams(out=out, err=err, inp=None))
    return code, out.getvalue(), err.getvalue()


def plan_json(*argv: str) -> tuple[int, dict[str, object]]:
    code, out, err = run("plan", "specs/", "--format", "json", *argv)
    assert out, err
    doc = json.loads(out)
    jsonschema.Draft202012Validator(json.loads((ROOT / "schemas/plan.schema.json").read_text())).validate(doc)
    return code, doc


def planned(doc: dict[str, object]) -> list[str]:
    return [s["imageSetId"] for s in doc["image_sets"]]  # type: ignore[attr-defined,index]


def left_out(doc: dict[str, object]) -> list[str]:
    return [s["imageSetId"] for s in doc["left_out"]["image_sets"]]  # type: ignore[index]


def versions(env: Path) -> dict[str, int]:
    store = Store(env / "store")
    return {i: store.get_version(DS, i, now=time.time()).version for i in (IS1, IS2, IS3)}


def test_without_targeting_the_missing_image_set_fails_the_plan(env: Path) -> None:
    code, doc = plan_json()
    assert code == 1 and GHOST in planned(doc)
    assert "left_out" not in doc  # no targeting, no member


def test_target_by_id_plans_only_that_image_set_and_lists_what_was_left_out(env: Path) -> None:
    code, doc = plan_json("--target", IS3)
    assert code == 0  # the missing image set was not read
    assert planned(doc) == [IS3]
    assert doc["left_out"] == {"count": 3, "target": [IS3], "exclude": [], "image_sets": [
        {"datastoreId": DS, "imageSetId": i} for i in (IS1, IS2, GHOST)]}


def test_target_by_file_means_every_image_set_its_documents_target(env: Path) -> None:
    code, doc = plan_json("--target", "specs/patient.yaml")
    assert code == 0
    assert sorted(planned(doc)) == [IS1, IS2]  # the select, resolved
    first = next(s for s in doc["image_sets"] if s["imageSetId"] == IS1)  # type: ignore[attr-defined,index]
    paths = {tuple(c["path"]) for c in first["changes"]}
    # planned with every document that targets it (one.yaml too): a partial desired tree is another state
    assert paths == {("Patient", "DICOM", "PatientName"), ("Study", "DICOM", "StudyDescription")}
    assert sorted(left_out(doc)) == [IS3, GHOST]


def test_exclude_by_file_and_by_id(env: Path) -> None:
    code, doc = plan_json("--exclude", "specs/ghost.yaml", "--exclude", IS1)
    assert code == 0
    assert sorted(planned(doc)) == [IS2, IS3]
    assert sorted(left_out(doc)) == [IS1, GHOST]
    assert doc["left_out"]["exclude"] == ["specs/ghost.yaml", IS1]  # type: ignore[index]


def test_exclude_applies_after_target(env: Path) -> None:
    code, doc = plan_json("--target", "specs/patient.yaml", "--target", IS3, "--exclude", IS1)
    assert code == 0 and sorted(planned(doc)) == [IS2, IS3]


def test_a_folder_stands_for_the_spec_files_in_it(env: Path) -> None:
    (env / "specs" / "more").mkdir()
    (env / "specs" / "three.yaml").rename(env / "specs" / "more" / "three.yaml")
    code, doc = plan_json("--target", "specs/more")
    assert code == 0 and planned(doc) == [IS3]


def test_text_and_markdown_say_what_was_left_out(env: Path) -> None:
    code, out, _err = run("plan", "specs/", "--target", IS3)
    assert code == 0
    assert "Targeting (--target/--exclude): 3 image sets left out, not read and not planned:" in out
    assert f"  - {GHOST} (datastore {DS})" in out.splitlines()
    code, out, _err = run("plan", "specs/", "--target", IS3, "--format", "markdown")
    assert code == 0
    assert "**Targeting (--target/--exclude): 3 image sets left out, not read and not planned.**" in out
    assert f"- `{IS1}` (datastore `{DS}`)" in out
    code, out, _err = run("plan", "specs/", "--exclude", "specs/ghost.yaml", "--target", "specs/")
    assert "Targeting (--target/--exclude): 1 image set left out" in out
    code, out, _err = run("plan", "specs/three.yaml", "--target", IS3)
    assert "Targeting (--target/--exclude): no image set left out." in out


@pytest.mark.parametrize(("flag", "arg", "why"), [
    ("--target", "e" * 32, "no spec document targets this image set"),
    ("--exclude", "e" * 32, "no spec document targets this image set"),
    ("--target", "specs/typo.yaml", "neither an image set ID"),
    ("--target", "elsewhere.yaml", "not one of the spec files given"),
    ("--target", "ABC", "neither an image set ID"),
])
def test_an_argument_that_matches_nothing_is_an_error_naming_it(env: Path, flag: str, arg: str, why: str) -> None:
    (env / "elsewhere.yaml").write_text(spec(f"  imageSetId: {IS3}\n", DESCRIPTION))
    for command in ("plan", "drift"):
        code, out, err = run(command, "specs/", flag, arg)
        assert (code, out) == (1, "")
        assert f"error: {flag} {arg}: {why}" in err and "Traceback" not in err


def test_every_unmatched_argument_is_named_at_once(env: Path) -> None:
    code, _out, err = run("plan", "specs/", "--target", "e" * 32, "--exclude", "f" * 32)
    assert code == 1 and f"--target {'e' * 32}" in err and f"--exclude {'f' * 32}" in err


def test_apply_writes_only_the_targeted_image_sets(env: Path) -> None:
    code, out, err = run("apply", "specs/", "--target", "specs/three.yaml", "--auto-approve", *FAST)
    assert code == 0, err
    assert "Targeting (--target/--exclude): 3 image sets left out" in out
    assert versions(env) == {IS1: 1, IS2: 1, IS3: 2}
    code, _out, err = run("apply", "specs/", "--exclude", "specs/ghost.yaml", "--exclude", IS2, "--auto-approve",
                          *FAST)
    assert code == 0, err
    assert versions(env) == {IS1: 2, IS2: 1, IS3: 2}


def test_a_saved_plan_keeps_what_was_left_out_and_apply_refuses_to_narrow_it(env: Path) -> None:
    code, _out, err = run("plan", "specs/", "--target", IS3, "--out", "three.plan")
    assert code == 0, err
    saved = load_plan("three.plan", Storage())[0]
    assert saved.targeting is not None and saved.targeting.targets == (IS3,)
    assert {i for _d, i in saved.targeting.left_out} == {IS1, IS2, GHOST}
    code, _out, err = run("apply", "three.plan", "--target", IS3)
    assert code == 1 and "the saved plan three.plan is applied as saved" in err
    assert versions(env) == {IS1: 1, IS2: 1, IS3: 1}


def test_drift_reports_only_the_targeted_image_sets(env: Path) -> None:
    code, out, _err = run("drift", "specs/", "--target", "specs/three.yaml")
    assert code == 2 and IS3 in out and f"# image set {IS1}" not in out
    every = [a for f in ("one", "patient", "three", "ghost") for a in ("--exclude", f"specs/{f}.yaml")]
    code, out, _err = run("drift", "specs/", *every)
    assert code == 0 and "In sync" in out and "4 image sets left out" in out
