"""An ``imageSetId`` target of an image set the plan replaces gets a warning with its file:line and how to
re-target it, in every output format; a ``select`` target, or an image set that is only updated, none."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import jsonschema
import pytest

from reconciler.plan.model import Change, ImageSetPlan, Plan, Replacement, UpdateRequest
from reconciler.plan.retarget import retargets
from reconciler.render.json_out import render_json
from reconciler.render.markdown import render_markdown
from reconciler.render.redact import Redactor
from reconciler.render.text import render_text
from reconciler.spec import load_specs
from reconciler.spec.model import SpecDocument

ROOT = Path(__file__).resolve().parents[3]
DS, REPLACED, UPDATED = "1" * 32, "a" * 32, "b" * 32
STUDY = "1.2.840.99.1"
SPEC = """\
apiVersion: reconciler/v1
kind: ImageSetMetadata
target:
  datastoreId: "{ds}"
  {target}
desired:
  Patient:
    DICOM:
      PatientName: "FIXED^NAME"
"""


def write(tmp_path: Path, name: str, target: str) -> Path:
    path = tmp_path / name
    path.write_text(SPEC.format(ds=DS, target=target))
    return path


def docs(*paths: Path) -> list[SpecDocument]:
    loaded, diagnostics = load_specs([str(p) for p in paths])
    assert not [d for d in diagnostics if d.severity == "error"]
    assert len(loaded) == len(paths)
    return list(loaded)


def plan() -> Plan:
    change = Change("change", ("Patient", "DICOM", "PatientName"), "OLD^NAME", "FIXED^NAME", "refused on primary",
                    "a primary image set refuses Patient-level changes")
    replaced = ImageSetPlan(DS, REPLACED, "2", "replace", changes=(change,),
                            requests=(UpdateRequest(b"{}", None, False),), is_primary=True,
                            replacement=Replacement(("x.yaml:6",), (change.path,)))
    updated = ImageSetPlan(DS, UPDATED, "1", "update", changes=(change,), requests=(UpdateRequest(b"{}", None, False),))
    return Plan((replaced, updated))


@pytest.fixture
def specs(tmp_path: Path) -> list[SpecDocument]:
    return docs(write(tmp_path, "by_id.yaml", f'imageSetId: "{REPLACED}"'),
                write(tmp_path, "by_study.yaml", f'select: {{DICOMStudyInstanceUID: "{STUDY}"}}'),
                write(tmp_path, "updated.yaml", f'imageSetId: "{UPDATED}"'))


def test_an_image_set_id_target_of_a_replaced_image_set_is_found(specs: list[SpecDocument]) -> None:
    found = retargets(plan(), specs)
    assert len(found) == 1  # not the select target, not the image set that is only updated
    r = found[0]
    assert r.source.endswith("by_id.yaml:5") and (r.datastore_id, r.image_set_id) == (DS, REPLACED)
    message = r.message()
    assert message.startswith(f"{r.source}: target.imageSetId: image set {REPLACED} is replaced")
    assert "new image set ID (known after apply)" in message
    assert "select: {DICOMStudyInstanceUID: ...}" in message and "import --target-by study" in message


def test_a_select_target_needs_no_warning(tmp_path: Path) -> None:
    only_select = docs(write(tmp_path, "by_study.yaml", f'select: {{DICOMStudyInstanceUID: "{STUDY}"}}'))
    assert retargets(plan(), only_select) == ()


def test_no_replacement_no_warning(specs: list[SpecDocument]) -> None:
    updates_only = Plan(tuple(p for p in plan().image_sets if p.action == "update"))
    assert retargets(updates_only, specs) == ()


@pytest.mark.parametrize("fmt", ["text", "json", "markdown"])
def test_every_format_shows_the_warning(specs: list[SpecDocument], fmt: str) -> None:
    p = plan()
    p = dataclasses.replace(p, retargets=retargets(p, specs))
    assert p.retargets
    render = {"text": render_text, "json": render_json, "markdown": render_markdown}[fmt]
    out = render(p, Redactor(key=b"k"))  # type: ignore[operator]
    source = p.retargets[0].source
    if fmt == "json":
        doc = json.loads(out)
        jsonschema.Draft202012Validator(json.loads((ROOT / "schemas" / "plan.schema.json").read_text())).validate(doc)
        assert [(n["kind"], n["severity"], n["source"], n["imageSetId"]) for n in doc["notes"]] == [
            ("retarget", "warning", source, REPLACED)]
    elif fmt == "text":
        assert f"! warning: {source}: target.imageSetId: image set {REPLACED} is replaced" in out
    else:
        assert f"> **Warning:** {source}: target.imageSetId: image set {REPLACED} is replaced" in out
    assert "OLD^NAME" not in out and STUDY not in out


def test_without_warnings_json_has_no_notes() -> None:
    assert "notes" not in json.loads(render_json(plan(), Redactor(key=b"k")))
