"""What `plan` shows for a replacement, through the CLI against the emulator over both transports: the
``-/+`` block with its steps in text, JSON valid against the plan schema, markdown; and the re-target
warning for a document that names the replaced image set by ID (with its file:line), none for a
``select`` target.

Needs the planner that turns a refused change of a document with ``replace: allow`` into a replacement;
until the spec schema knows that key, these are skipped."""

from __future__ import annotations

import io
import json
from pathlib import Path

import jsonschema

from reconciler.cli import main
from reconciler.commands._common import Streams
from tests.support.primaryenv import DS, OTHER, SECRET, D, Env, env, head

__all__ = ["env"]  # the fixture

ROOT = Path(__file__).resolve().parents[2]
PATIENT = "  Patient:\n    DICOM:\n      PatientName: FIXED^NAME\n"
BY_STUDY = (f"apiVersion: reconciler/v1\nkind: ImageSetMetadata\ntarget:\n  datastoreId: {DS}\n"
            f"  select:\n    DICOMStudyInstanceUID: \"{OTHER}\"\nreplace: allow\ndesired:\n")

def plan_schema() -> jsonschema.Draft202012Validator:
    return jsonschema.Draft202012Validator(json.loads((ROOT / "schemas" / "plan.schema.json").read_text()))


def test_an_image_set_id_target_is_replaced_and_warned_in_every_format(env: Env) -> None:
    env.spec("fix.yaml", head(D, "replace: allow\n") + PATIENT)
    code, out, err = env.cli("plan", "specs", "--detailed-exitcode")
    assert code == 2, out + err
    assert f"-/+ image set {D} must be replaced: the image set ID changes to a new one (known after apply)" in out
    assert "4. CopyImageSet: copy the temporary copy with promoteToPrimary = NEW image set ID" in out
    assert "Plan: 0 to update, 1 to replace, 0 unchanged, 0 with errors" in out
    assert "5 writes (1 UpdateImageSetMetadata, 2 CopyImageSet, 2 DeleteImageSet)" in out
    assert f"! warning: specs/fix.yaml:5: target.imageSetId: image set {D} is replaced" in out
    assert SECRET not in out and "FIXED^NAME" not in out

    code, out, err = env.cli("plan", "specs", "--format", "json")
    doc = json.loads(out)
    plan_schema().validate(doc)
    (isp,) = doc["image_sets"]
    assert (isp["action"], isp["replacement"]["writes"], isp["replacement"]["newImageSetId"]) == ("replace", 5, None)
    assert isp["replacement"]["sources"] == ["specs/fix.yaml:6"]
    assert [(n["kind"], n["source"], n["imageSetId"]) for n in doc["notes"]] == [
        ("retarget", "specs/fix.yaml:5", D)]
    assert doc["summary"]["to_replace"] == 1 and doc["summary"]["writes"] == 5

    code, out, err = env.cli("plan", "specs", "--format", "markdown")
    assert "| to replace (-/+) | 1 |" in out
    assert f"> **Warning:** specs/fix.yaml:5: target.imageSetId: image set {D} is replaced" in out
    assert SECRET not in out and "FIXED^NAME" not in out


def show(*argv: str) -> tuple[int, str, str]:
    """``reconciler show``, which reads the saved plan alone (no backend)."""
    out, err = io.StringIO(), io.StringIO()
    code = main(["show", *argv], Streams(out=out, err=err, inp=None))
    return code, out.getvalue(), err.getvalue()


def test_a_saved_plan_keeps_the_warning_for_show(env: Env) -> None:
    env.spec("fix.yaml", head(D, "replace: allow\n") + PATIENT)
    code, out, err = env.cli("plan", "specs", "--out", "plan.json")
    assert code == 0, out + err
    warning = f"! warning: specs/fix.yaml:5: target.imageSetId: image set {D} is replaced"
    code, out, err = show("plan.json")
    assert code == 0 and warning in out, out + err
    code, out, err = show("plan.json", "--format", "json")
    assert [(n["kind"], n["source"], n["imageSetId"]) for n in json.loads(out)["notes"]] == [
        ("retarget", "specs/fix.yaml:5", D)]


def test_a_select_target_gets_no_warning(env: Env) -> None:
    env.spec("fix.yaml", BY_STUDY + PATIENT)
    code, out, err = env.cli("plan", "specs", "--detailed-exitcode")
    assert code == 2, out + err
    assert f"-/+ image set {D} must be replaced" in out
    assert "warning" not in out
    code, out, _ = env.cli("plan", "specs", "--format", "json")
    assert "notes" not in json.loads(out)


def test_the_rate_overrides_reach_the_replacement_times(env: Env) -> None:
    env.spec("fix.yaml", BY_STUDY + PATIENT)
    out, err = io.StringIO(), io.StringIO()  # without the environment's test rates: these alone
    code = main(["plan", "specs", "--format", "json", *env.backend, "--rate", "CopyImageSet=0.5",
                 "--rate", "DeleteImageSet=0.125", "--rate", "UpdateImageSetMetadata=1", "--rate", "*=1000"],
                Streams(out=out, err=err, inp=None))
    assert code == 0, err.getvalue()
    steps = {s["step"]: s["seconds"] for s in json.loads(out.getvalue())["image_sets"][0]["replacement"]["steps"]}
    assert steps == {"copy": 2.0, "update_copy": 1.0, "delete_primary": 8.0, "promote": 2.0, "delete_copy": 8.0}
