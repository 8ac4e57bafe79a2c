"""A service answer without ``isPrimary`` (optional in the model) through the CLI, over both transports: the
emulator leaves the flag out (``omit_is_primary``, ``emulator serve --omit-is-primary``), and the planner
reads the image set as primary, the restrictive reading, with a warning that names the image set and no
value: a Patient-level change is refused on primary, or planned (and applied) as a replacement where the
spec says ``replace: allow``. Both reads are covered: GetImageSet (a spec by image set ID) and
SearchImageSets (a spec that selects the study)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from reconciler.emulator.knobs import EmulatorConfig
from tests.support.backends import local_knobs
from tests.support.replaceenv import (
    LOCK,
    NEW,
    OLD,
    SELECT,
    Env,
    X,
    by_id,
    in_study,
    seed,
    seeded_env,
    spec_text,
    wait_quiet,
)

TARGETS = {"by-id": by_id(X), "select": SELECT}


@pytest.fixture(params=["local", "http"])
def fenv(request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Env]:
    """The seeded store (X: the study's one primary image set), answered without isPrimary."""
    local_knobs(monkeypatch, EmulatorConfig(omit_is_primary=True))
    config = EmulatorConfig(lock_seconds=LOCK, omit_is_primary=True)
    with seeded_env(request.param, tmp_path, monkeypatch, seed, config) as seeded:
        yield seeded


def _warning(err: str, image_set_id: str = X) -> str:
    """The one warning about the missing flag: it names the image set, and no value (patient data)."""
    (line,) = [w for w in err.splitlines() if "isPrimary" in w]
    assert line.startswith("warning: ") and image_set_id in line and "planned as a primary image set" in line, line
    assert OLD not in line and NEW not in line and "QQ" not in line
    return line


@pytest.mark.parametrize("target", sorted(TARGETS))
def test_a_missing_is_primary_refuses_a_patient_change_on_primary_with_a_warning(fenv: Env, target: str) -> None:
    fenv.spec(spec_text(allow=False, target=TARGETS[target]))
    code, out, err = fenv.cli("plan", "specs", "--format", "json")
    assert code == 1, out + err
    (plan,) = [p for p in json.loads(out)["image_sets"] if p["imageSetId"] == X]
    assert plan["action"] == "error" and "replace: allow" in plan["error"]
    assert [c["check"] for c in plan["changes"]] == ["refused on primary"]
    _warning(err)
    code, out, err = fenv.cli("apply", "specs", "--auto-approve")
    assert code == 1, out + err
    assert [(r.image_set_id, r.version) for r, _d in in_study(fenv)] == [(X, 1)]  # nothing written


@pytest.mark.parametrize("target", sorted(TARGETS))
def test_a_missing_is_primary_plans_a_patient_change_as_a_replacement_and_applies_it(fenv: Env, target: str) -> None:
    fenv.spec(spec_text(allow=True, target=TARGETS[target]))
    code, out, err = fenv.cli("plan", "specs", "--format", "json")
    assert code == 0, out + err
    (plan,) = [p for p in json.loads(out)["image_sets"] if p["imageSetId"] == X]
    assert plan["action"] == "replace"
    _warning(err)
    code, out, err = fenv.cli("apply", "specs", "--auto-approve", "--format", "json")
    assert code == 0, out + err
    (result,) = [r for r in json.loads(out)["image_sets"] if r["imageSetId"] == X]
    assert result["status"] == "replaced", result
    wait_quiet(fenv)
    ((row, doc),) = in_study(fenv)
    assert row.image_set_id == result["replacedBy"] and row.is_primary  # the store's truth: still a primary
    assert doc["Patient"]["DICOM"]["PatientName"] == NEW
    if target == "select":  # a spec by ID names the deleted original now (the replacement changed the ID)
        code, out, err = fenv.cli("plan", "specs", "--detailed-exitcode")
        assert code == 0, out + err  # converged; the new primary's missing flag is warned about again
        _warning(err, result["replacedBy"])
