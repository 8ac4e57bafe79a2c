"""What plan and apply print about problems: one error per line, each once; each kind of spec warning
once, with a count (an imported spec of 50 instances used to give 53 warning lines on every plan)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from reconciler.emulator.store import Store
from reconciler.render.redact import ENV_KEY
from tests.support.planenv import DS, HEAD, IS, KEY, run, uid

INSTANCES = 50
PRIVATE = "00091001"


def _live() -> dict[str, Any]:
    instances = {
        f"1.2.3.1.{i}": {"DICOM": {"SOPInstanceUID": f"1.2.3.1.{i}", "InstanceNumber": str(i), PRIVATE: "OLD"},
                         "DICOMVRs": {PRIVATE: "LO"}}
        for i in range(INSTANCES)
    }
    return {
        "Patient": {"DICOM": {"PatientName": "ZZPHI^NOISE", "PatientID": "P1"}},
        "Study": {"DICOM": {"StudyInstanceUID": "1.2.3", "StudyDescription": "HEAD"},
                  "Series": {"1.2.3.1": {"DICOM": {"SeriesInstanceUID": "1.2.3.1", "Modality": "CT"},
                                         "Instances": instances}}},
    }


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    store = Store(tmp_path / "store")
    store.ensure_datastore(DS, "noise")
    # non-primary: a forced change of a primary image set is refused on primary (reconciler.dicom.primary),
    # and these tests are about how "needs force" is reported
    store.put_image_set(DS, IS, _live(), is_primary=False)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("RECONCILER_LOCAL", str(tmp_path / "store"))
    monkeypatch.setenv(ENV_KEY, KEY)  # stable fingerprints: no note that they are not
    return tmp_path


def _private_change(env: Path, count: int, value: str = "NEW", vrs: str = "") -> Path:
    """A spec that sets the private tag of COUNT instances, without `force: true`."""
    body = "".join(f'          "1.2.3.1.{i}":\n{vrs}            DICOM:\n              {PRIVATE}: {value}\n'
                   for i in range(count))
    spec = env / "private.yaml"
    spec.write_text(HEAD + 'desired:\n  Study:\n    Series:\n      "1.2.3.1":\n        Instances:\n' + body)
    return spec


def test_an_imported_spec_warns_once_per_kind_with_a_count(env: Path) -> None:
    code, _out, err = run("import", "--datastore-id", DS, "--image-set-id", IS, "--out", "imported")
    assert code == 0, err
    code, out, err = run("plan", "imported")
    assert code == 0 and "No changes." in out
    lines = err.splitlines()
    # two kinds: identifying UIDs (1 study + 1 series + 50 instances) and the private tag (50)
    assert len(lines) == 2, err
    uids, private = lines
    assert "StudyInstanceUID is an identifying attribute, a UID or the Study ID" in uids
    assert "constraint" not in err  # the documented constraints are not numbered for users
    assert "(and 51 more like it: SeriesInstanceUID, SOPInstanceUID; `reconciler validate` lists each)" in uids
    assert "it is a private attribute" in private and "(and 49 more like it;" in private
    assert all(line.count("warning") == 1 and line.startswith("imported/") for line in lines)
    # validate still lists every one
    _code, out, _err = run("validate", "imported")
    assert out.count("identifying attribute") == 2 + INSTANCES


def test_a_blocked_change_is_one_error_per_line_each_once(env: Path) -> None:
    spec = _private_change(env, 4)
    code, out, err = run("plan", str(spec))
    assert code == 1
    reason = "needs force: it is a private attribute; set `force: true` in the spec to allow it"
    errors = [line for line in out.splitlines() if line.lstrip().startswith("!")]
    assert len(errors) == 4 and all(line.count(reason) == 1 and "; Study." not in line for line in errors)
    assert out.count("it is a private attribute") == 4  # the change lines do not repeat it
    assert len([line for line in out.splitlines() if line.lstrip().startswith("~")]) == 4
    # stderr: one line per kind of spec warning (no VR given; needs force), labelled once
    lines = err.splitlines()
    assert len(lines) == 2 and all("(and 3 more like it;" in line for line in lines), err
    assert "private tag without a VR" in lines[0] and "needs `force: true`" in lines[1]
    assert all(line.count("warning") == 1 for line in lines) and "(warning)" not in err


def test_json_and_apply_keep_each_error_once(env: Path) -> None:
    spec = _private_change(env, 3)
    code, out, _err = run("plan", str(spec), "--format", "json")
    assert code == 1
    (image_set,) = json.loads(out)["image_sets"]
    assert len(image_set["error"].splitlines()) == 3
    code, out, _err = run("apply", str(spec), "--auto-approve")
    assert code == 1
    (failed,) = [line for line in out.splitlines() if line.lstrip().startswith("failed")]
    assert failed.count("it is a private attribute") == 1 and "(and 2 more, listed in the plan)" in failed


def test_a_single_warning_is_printed_as_validate_does(env: Path) -> None:
    spec = _private_change(env, 1, value="OLD", vrs=f"            DICOMVRs:\n              {PRIVATE}: LO\n")
    code, _out, err = run("plan", str(spec))
    assert code == 0
    assert err.splitlines() == [
        # as validate prints it, with the UIDs of the path as the plan shows them (uid:HASH)
        f"{spec}:15:15: desired.Study.Series[{uid('1.2.3.1')}].Instances[{uid('1.2.3.1.0')}].DICOM.{PRIVATE}: "
        "warning: needs "
        "`force: true` (it is a private attribute); without it, plan fails if this differs from live",
    ]
