"""`reconciler drift --blame`: the version that introduced each drifted live value, found by galloping
and bisecting the history (O(log n) metadata reads), in text and JSON, never showing a value."""

from __future__ import annotations

import copy
import json
import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from planenv import DS, IN_SYNC, IS, LIVE, ROOT, SECRET, run, seed_env, write

from reconciler.blame import find_introduction
from reconciler.emulator.store import Store

WITH_NAME = IN_SYNC.replace("desired:\n", f"desired:\n  Patient:\n    DICOM:\n      PatientName: {SECRET}\n", 1)


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    return seed_env(tmp_path, monkeypatch)


def history(env: Path, edits: list[Callable[[dict[str, Any]], None] | None]) -> None:
    """Add one version per entry after version 1: an edit of the previous document, or None (untouched)."""
    store = Store(env / "store")
    doc = copy.deepcopy(LIVE)
    for edit in edits:
        if edit is not None:
            edit(doc)
        store.put_image_set(DS, IS, copy.deepcopy(doc), replace=True, is_primary=False)


def describe(value: str) -> Callable[[dict[str, Any]], None]:
    def edit(doc: dict[str, Any]) -> None:
        doc["Study"]["DICOM"]["StudyDescription"] = value
    return edit


def unrelated(n: int) -> Callable[[dict[str, Any]], None]:
    def edit(doc: dict[str, Any]) -> None:
        doc["Study"]["Series"]["1.1"]["DICOM"]["SeriesDescription"] = f"S{n}"
    return edit


def drift_json(env: Path) -> dict[str, Any]:
    code, out, err = run("drift", write(env, IN_SYNC), "--blame", "--format", "json")
    assert code == 2, err
    doc: dict[str, Any] = json.loads(out)
    return doc


def blame_of(doc: dict[str, Any]) -> dict[str, Any]:
    change = doc["image_sets"][0]["changes"][0]
    assert change["path"] == ["Study", "DICOM", "StudyDescription"]
    blame: dict[str, Any] = change["blame"]
    return blame


def test_in_sync_exits_0_and_blames_nothing(env: Path) -> None:
    code, out, _ = run("drift", write(env, IN_SYNC), "--blame")
    assert code == 0 and "Blame" not in out


def test_blame_names_the_outside_write_when_later_versions_did_not_touch_it(env: Path) -> None:
    history(env, [unrelated(2), describe("ABDOMEN"), *[unrelated(n) for n in range(4, 30)], None])
    doc = drift_json(env)
    assert blame_of(doc) == {"version": "3", "updatedAt": blame_of(doc)["updatedAt"], "sinceFirstVersion": False}
    schema = json.loads((ROOT / "schemas" / "plan.schema.json").read_text())
    jsonschema.validate(doc, schema)


def test_blame_text_names_path_and_version_never_the_value(env: Path) -> None:
    def rename(doc: dict[str, Any]) -> None:
        doc["Patient"]["DICOM"]["PatientName"] = "OTHER^PERSON"

    history(env, [None, rename, None])
    code, out, _ = run("drift", write(env, WITH_NAME), "--blame")
    assert code == 2
    assert f"{IS} Patient.DICOM.PatientName: live value from version 3" in out
    assert "OTHER^PERSON" not in out and SECRET not in out


def test_blame_finds_the_latest_change_into_a_value_that_went_back_and_forth(env: Path) -> None:
    history(env, [describe("ABDOMEN"), describe("CHEST"), describe("ABDOMEN"),
                  *[unrelated(n) for n in range(6, 21)]])
    assert blame_of(drift_json(env))["version"] == "4"


def test_blame_of_a_value_there_since_the_first_version(env: Path) -> None:
    history(env, [unrelated(n) for n in range(2, 10)])
    code, out, _ = run("drift", write(env, IN_SYNC.replace("StudyDescription: CHEST", "StudyDescription: HEAD")),
                       "--blame", "--format", "json")
    assert code == 2
    assert blame_of(json.loads(out)) | {"updatedAt": None} == {
        "version": "1", "updatedAt": None, "sinceFirstVersion": True}


def test_blame_of_an_attribute_removed_by_an_outside_write(env: Path) -> None:
    def remove(doc: dict[str, Any]) -> None:
        del doc["Study"]["DICOM"]["StudyDescription"]

    history(env, [None, None, remove, None, None])
    assert blame_of(drift_json(env)) | {"updatedAt": None} == {
        "version": "4", "updatedAt": None, "sinceFirstVersion": False}


def test_blame_reads_are_logarithmic_on_a_long_history(env: Path) -> None:
    edits: list[Callable[[dict[str, Any]], None] | None] = [None] * 199
    edits[140] = describe("ABDOMEN")  # version 142 of 200
    history(env, edits)
    doc = drift_json(env)
    assert blame_of(doc)["version"] == "142"
    assert doc["image_sets"][0]["blameReads"] <= 2 * math.ceil(math.log2(200))


def test_blame_markdown_has_a_section(env: Path) -> None:
    history(env, [describe("ABDOMEN")])
    code, out, _ = run("drift", write(env, IN_SYNC), "--blame", "--format", "markdown")
    assert code == 2 and "#### Blame" in out and "live value from version 2" in out


# ----------------------------------------------------------------------------- the search itself


def counted(values: list[str]) -> tuple[Callable[[int], bool], list[int]]:
    seen: list[int] = []
    live = values[-1]

    def holds(version: int) -> bool:
        seen.append(version)
        return values[version - 1] == live

    return holds, seen


@pytest.mark.parametrize(("values", "expected"), [
    (["A"], (1, True)),
    (["A", "B"], (2, False)),
    (["A", "A", "A"], (1, True)),
    (["B", "A", "A", "A", "A", "A", "A", "A"], (2, False)),
    (["A", "B", "A", "B", "B", "B", "B"], (4, False)),  # back and forth: the latest change into B
    (["B", "B", "A", "B", "B", "B", "B", "B", "B", "B"], (4, False)),
    # the documented limit: a flip away and back that falls between two probes (v1 and v3) is not seen
    (["B", "A", "B", "B", "B", "B", "B", "B", "B", "B"], (1, True)),
    (["A"] * 500 + ["B"] + ["B"] * 499, (501, False)),
])
def test_find_introduction(values: list[str], expected: tuple[int, bool]) -> None:
    holds, seen = counted(values)
    assert find_introduction(list(range(1, len(values) + 1)), holds) == expected
    assert len(seen) <= 2 * max(1, math.ceil(math.log2(len(values))))
    assert len(values) not in seen  # the planned version is known to hold the live value


def test_markdown_blame_section_is_capped_and_counted_in_the_size_limit() -> None:
    from reconciler.blame import Blame, ImageSetBlame, blame_text
    from reconciler.plan.model import Change, ImageSetPlan, Plan
    from reconciler.render.markdown import LIMIT, render_markdown
    from reconciler.render.redact import Redactor

    path = ("Study", "DICOM", "StudyDescription")
    sets = tuple(ImageSetPlan(DS, f"{n:032x}", "9", "update", changes=(Change("change", path, "A" * 80, "B" * 80),))
                 for n in range(300))
    plan = Plan(sets)
    blames = {(DS, s.image_set_id): ImageSetBlame(s.image_set_id, {path: Blame(path, "7")}, 4) for s in sets}
    section = blame_text(blames, plan, markdown=True)
    assert section.count("\n- `") == 50 and "250 more" in section and "1200 metadata reads" in section
    out = render_markdown(plan, Redactor(key=b"k"), limit=LIMIT - len(section), drift=True) + section
    assert len(out) <= LIMIT and out.startswith("### Drift report: 300 to update")


def test_blame_after_outside_writes_through_the_api(env: Path) -> None:
    """Outside writes made with UpdateImageSetMetadata (the real boto3 client on the emulator)."""
    from reconciler.aws import HealthImaging

    api = HealthImaging.from_options(local_dir=str(env / "store"), rates={"UpdateImageSetMetadata": 100.0})

    def update(dicom: dict[str, Any], level: str = "Study") -> None:
        version = api.get_image_set(DS, IS).version_id
        body = json.dumps({"SchemaVersion": "1.1", "Study" if level == "Study" else "Patient": {"DICOM": dicom}})
        api.update_image_set_metadata(DS, IS, version, updatable=body.encode())

    assert run("drift", write(env, IN_SYNC))[0] == 0
    update({"StudyDescription": "OUTSIDE"})  # version 2
    for n in range(3, 12):
        update({"PatientBirthDate": f"197001{n:02d}"}, level="Patient")  # versions 3..11, elsewhere
    doc = drift_json(env)
    assert doc["image_sets"][0]["versionId"] == "11"
    assert blame_of(doc)["version"] == "2"
