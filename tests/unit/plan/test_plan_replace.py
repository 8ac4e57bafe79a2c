"""Replacement at plan time: when a primary's refused changes become action ``replace`` (``replace: allow``),
how the copy's requests are checked, the plan error that names the key, and the saved plan."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import pytest

from reconciler.persist import Storage
from reconciler.plan.model import Change, ImageSetPlan, Plan, Replacement
from reconciler.plan.planfile import load_plan, save_plan
from reconciler.plan.replacing import on_copy, replace_hint, replaceable
from reconciler.plan.runinfo import RunInfo
from reconciler.spec.model import SourcePos, SpecDocument, Target
from reconciler.spec.validate import validate_text

NAME = Change("change", ("Patient", "DICOM", "PatientName"), "A^B", "C^D", "refused on primary", "Patient-level")
SERIES_UID = Change("change", ("Study", "Series", "1.2", "DICOM", "SeriesInstanceUID"), "1.2", "1.3",
                    "refused on primary", "SeriesInstanceUID cannot be changed", force_in_spec=False)
DESC = Change("change", ("Study", "DICOM", "StudyDescription"), "A", "B")


def doc(replace: bool, force: bool = False) -> SpecDocument:
    return SpecDocument("specs/a.yaml", 0, Target("d" * 32, "i" * 32), force, {}, line=4,
                        replace=SourcePos("specs/a.yaml", 9, 1) if replace else None)


def test_refused_changes_are_replaceable_only_when_every_document_asking_for_them_allows_it() -> None:
    allowed, denied = doc(True), doc(False)
    assert replaceable([NAME, DESC], {NAME.path: allowed, DESC.path: denied})
    assert not replaceable([NAME, DESC], {NAME.path: denied, DESC.path: allowed})
    assert not replaceable([DESC], {DESC.path: allowed})  # nothing refused: an ordinary update
    assert not replaceable([NAME, SERIES_UID], {NAME.path: allowed, SERIES_UID.path: denied})


def test_on_the_copy_a_refused_change_is_checked_as_for_a_non_primary() -> None:
    assert on_copy(NAME).check == "ok" and on_copy(NAME).reason is None
    forced = on_copy(SERIES_UID)
    assert forced.check == "needs force" and forced.reason and not forced.force_in_spec
    assert on_copy(DESC) is DESC


def test_the_hint_names_the_key_and_the_document() -> None:
    assert "`replace: allow`" in replace_hint(doc(False)) and "specs/a.yaml:4" in replace_hint(doc(False))


def test_the_spec_key_is_allow_or_deny_at_the_top_of_the_document() -> None:
    head = f"apiVersion: reconciler/v1\nkind: ImageSetMetadata\ntarget:\n  datastoreId: {'d' * 32}\n" \
           f"  imageSetId: {'i' * 32}\n"
    body = "desired:\n  Patient:\n    DICOM:\n      PatientName: A^B\n"
    assert [d for d in validate_text(head + "replace: allow\n" + body) if d.severity == "error"] == []
    (bad,) = [d for d in validate_text(head + "replace: yes\n" + body, "a.yaml") if d.severity == "error"]
    assert (bad.line, bad.message) == (6, "must be one of `allow`, `deny`")
    (moved,) = [d for d in validate_text(head.replace("  imageSetId", "  replace: allow\n  imageSetId") + body)
                if d.severity == "error"]
    assert "belongs at the top of the document" in moved.message


def test_the_loaded_document_keeps_the_key_position(tmp_path: Path) -> None:
    from reconciler.spec import load_specs

    spec = tmp_path / "a.yaml"
    spec.write_text(f"apiVersion: reconciler/v1\nkind: ImageSetMetadata\ntarget:\n  datastoreId: {'d' * 32}\n"
                    f"  imageSetId: {'i' * 32}\nreplace: allow\ndesired:\n  Patient:\n    DICOM:\n"
                    "      PatientName: A^B\n")
    (loaded,), _ = load_specs([str(spec)])
    assert loaded.replace is not None and (loaded.replace.file, loaded.replace.line) == (str(spec), 6)
    spec.write_text(spec.read_text().replace("replace: allow", "replace: deny"))
    (loaded,), _ = load_specs([str(spec)])
    assert loaded.replace is None


def _replace_plan() -> Plan:
    isp = ImageSetPlan("d" * 32, "i" * 32, "3", "replace", changes=(on_copy(NAME),), is_primary=True,
                       replacement=Replacement(("specs/a.yaml:9",), (NAME.path,)))
    return Plan((isp,), run=RunInfo(created_at=1.0))


def test_a_saved_plan_keeps_the_replacement(tmp_path: Path) -> None:
    save_plan(_replace_plan(), str(tmp_path / "p.json"), Storage())
    loaded = load_plan(str(tmp_path / "p.json"), Storage())[0]
    assert loaded.image_sets[0].replacement == Replacement(("specs/a.yaml:9",), (NAME.path,))
    assert loaded.image_sets[0].action == "replace" and loaded.has_changes


@pytest.mark.parametrize("version", [3])
def test_a_plan_saved_in_the_previous_format_is_still_read(tmp_path: Path, version: int) -> None:
    from reconciler.plan import planfile

    body: dict[str, Any] = planfile.plan_to_dict(dataclasses.replace(_replace_plan(), image_sets=(
        dataclasses.replace(_replace_plan().image_sets[0], action="update", replacement=None),)))
    body.pop("plan_digest")
    body["format_version"] = version
    body["plan_digest"] = planfile._digest(body)
    (tmp_path / "p.json").write_text(json.dumps(body))
    assert load_plan(str(tmp_path / "p.json"), Storage())[0].image_sets[0].replacement is None
