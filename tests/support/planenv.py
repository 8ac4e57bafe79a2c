"""Shared set-up of the plan/drift end-to-end tests: a seeded local store and real YAML specs."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from reconciler.cli import main
from reconciler.commands._common import Streams
from reconciler.emulator.store import Store
from reconciler.render.redact import ENV_KEY, Redactor

ROOT = Path(__file__).resolve().parents[2]
DS = "12345678901234567890123456789012"
IS = "ea92b0d8838c72a3f25d00d13616f87e"
SECRET = "QQUNIQUE^ZZPATIENTNAME"
KEY = "plan-tests-redaction-key-0123456789abcdef"
LIVE = {
    "Patient": {"DICOM": {"PatientName": SECRET, "PatientID": "P1", "PatientBirthDate": "19700101"}},
    "Study": {"DICOM": {"StudyDescription": "CHEST ", "StudyInstanceUID": "1.2.3"},
              "Series": {"1.1": {"DICOM": {"Modality": "CT", "SeriesNumber": "1 "},
                                 "Instances": {"2.1": {"DICOM": {"KVP": "120 "}}, "2.2": {"DICOM": {"KVP": "120"}}}}}},
}
HEAD = f"""apiVersion: reconciler/v1
kind: ImageSetMetadata
target:
  datastoreId: {DS}
  imageSetId: {IS}
"""
CHANGE = HEAD + """desired:
  Patient:
    DICOM:
      PatientName: NEW^NAME
  Study:
    DICOM:
      StudyDescription: null
    Series:
      "1.1":
        DICOM:
          BodyPartExamined: CHEST
        Instances:
          "2.2": null
"""
IN_SYNC = HEAD + """desired:
  Study:
    DICOM:
      StudyDescription: CHEST
    Series:
      "1.1":
        DICOM:
          SeriesNumber: "1"
        Instances:
          "2.1":
            DICOM:
              KVP: "120"
"""
FORBIDDEN = HEAD + """desired:
  Study:
    Series:
      "9.9":
        DICOM:
          Modality: MR
"""


def uid(value: str) -> str:
    """A UID as the plan shows it without --show-phi, under the tests' RECONCILER_REDACTION_KEY."""
    return Redactor(key=KEY.encode()).uid(value)


def token(value: object) -> str:
    """A patient value as the plan shows it without --show-phi, under the tests' key."""
    return Redactor(key=KEY.encode()).token(value)


def seed_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A local store with one image set, an empty specs/ folder as cwd, RECONCILER_LOCAL set, and
    RECONCILER_REDACTION_KEY (fingerprints a test can compute, as an operator with a CI secret has)."""
    store = Store(tmp_path / "store")
    store.ensure_datastore(DS, "cli")
    store.put_image_set(DS, IS, LIVE, is_primary=False)  # Patient-level changes: not on a primary
    (tmp_path / "specs").mkdir()
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("RECONCILER_LOCAL", str(tmp_path / "store"))
    monkeypatch.setenv(ENV_KEY, KEY)
    monkeypatch.delenv("CI", raising=False)
    return tmp_path


def run(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = main(list(argv), Streams(out=out, err=err, inp=None))
    return code, out.getvalue(), err.getvalue()


def write(env: Path, text: str) -> str:
    (env / "specs" / "a.yaml").write_text(text)
    return "specs"


