"""Security: no patient value and no credential ever reaches a log; patient-data files are 0600.

One test runs EVERY command as a real subprocess (validate, plan in every format and --out, apply of a
saved plan and of specs, drift in every format, import, history, revert, emulator load / import-dicom /
serve, plus a wrongly signed call against serve) with unique PatientNames and a unique secret key, and
scans everything printed (stdout, stderr, the server's request log) and every journal. Plan files and
imported specs may hold values (they are patient-data files): only their mode is checked. The serve
refusals (unsigned, mis-signed, stale date) are in tests/emulator/test_http_security.py.
"""

from __future__ import annotations

import json
import stat
import uuid
from pathlib import Path

import pydicom
import pytest
from pydicom.data import get_testdata_file
from relenv import CLI_RATES, DS, document, image_set_id, run, serve

SPEC = """apiVersion: reconciler/v1
kind: ImageSetMetadata
target:
  datastoreId: {ds}
  imageSetId: {image_set_id}
desired:
  Patient:
    DICOM:
      PatientName: "{name}"
      PatientBirthDate: "19800101"
  Study:
    DICOM:
      StudyDescription: null
"""


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.mark.slow
def test_every_command_keeps_patient_values_and_secrets_out_of_what_it_prints(tmp_path: Path) -> None:
    token = uuid.uuid4().hex[:12].upper()
    live_name, new_name, dicom_name = f"ZQLIVE{token}^ANNA", f"ZQNEW{token}^BERT", f"ZQDICOM{token}^CARL"
    secret, key = f"zqsecret{token.lower()}", f"AKIAZQ{token}"
    forbidden = [live_name, new_name, dicom_name, token, secret, key]
    store, image_set = tmp_path / "store", image_set_id(7)
    printed: list[tuple[str, str]] = []  # (what, text) of everything that must stay free of them

    def cli(*argv: str, expect: int = 0, timeout: float = 120.0, access_key: str = key) -> str:
        proc = run(tmp_path, *argv, secret=secret, key=access_key, timeout=timeout)
        printed.append((" ".join(argv[:2]), proc.stdout + proc.stderr))
        assert proc.returncode == expect, (argv, proc.stdout[-1500:], proc.stderr[-1500:])
        return proc.stdout

    # the emulator's own commands: load a document, import a DICOM file
    (tmp_path / "live.json").write_text(json.dumps(document(7, name=live_name)))
    cli("emulator", "load", "--local", str(store), "--datastore-id", DS, "--image-set-id", image_set, "--non-primary",
        "live.json")
    dicom = pydicom.dcmread(get_testdata_file("CT_small.dcm"))
    dicom.PatientName = dicom_name
    dicom.PatientID = f"ZQPID{token}"
    dicom.save_as(tmp_path / "ct.dcm")
    cli("emulator", "import-dicom", "--local", str(store), "--datastore-id", DS, "ct.dcm")

    specs = tmp_path / "specs"
    specs.mkdir()
    (specs / "s.yaml").write_text(SPEC.format(ds=DS, image_set_id=image_set, name=new_name))
    local = ["--local", str(store), *CLI_RATES]
    cli("validate", "specs")
    cli("validate", "specs", "--format", "json")
    for fmt in ("text", "json", "markdown"):
        cli("plan", "specs", "--format", fmt, *local)
        cli("drift", "specs", "--format", fmt, *local, expect=2)
    cli("plan", "specs", "--out", "plan.json", "--detailed-exitcode", *local, expect=2)
    assert _mode(tmp_path / "plan.json") == 0o600
    cli("apply", "plan.json", "--journal", "j1.jsonl", *local)
    cli("apply", "specs", "--auto-approve", "--journal", "j2.jsonl", "--format", "json", *local)
    cli("drift", "specs", "--blame", *local)
    cli("history", "--datastore-id", DS, "--image-set-id", image_set, *local)
    cli("history", "--datastore-id", DS, "--image-set-id", image_set, "--format", "json", *local)
    cli("revert", "--datastore-id", DS, "--image-set-id", image_set, "--to-version", "1", "--auto-approve", *local)
    cli("import", "--datastore-id", DS, "--image-set-id", image_set, "--out", "imported", *local)
    for written in (tmp_path / "imported").iterdir():
        assert _mode(written) == 0o600, written
    # apply again from the specs (after the revert), into the default journal (.reconciler/journal/)
    cli("apply", "specs", "--auto-approve", *local)

    # and over HTTP: a signed plan; then a mis-signed call (right key, unique wrong secret) and an unknown key
    with serve(store, tmp_path) as served:
        assert served.url.startswith("http://127.0.0.1:")  # bound to loopback by default
        endpoint = ["--endpoint-url", served.url, *CLI_RATES]
        proc = run(tmp_path, "plan", "specs", "--format", "json", *endpoint)  # signed with test/test: works
        printed.append(("plan over HTTP", proc.stdout + proc.stderr))
        assert proc.returncode == 0, proc.stderr
        cli("history", "--datastore-id", DS, "--image-set-id", image_set, *endpoint, expect=1, access_key="test")
        cli("apply", "specs", "--auto-approve", "--journal", "j4.jsonl", *endpoint, expect=1)
    printed.append(("emulator serve", served.out + served.log))
    assert printed[-2][1].startswith("error: ") and printed[-2][1].count("\n") == 1

    journals = sorted(tmp_path.glob("j*.jsonl")) + sorted((tmp_path / ".reconciler" / "journal").glob("*.jsonl"))
    assert len(journals) == 2  # the saved plan and the re-apply; a no-op or refused apply writes none
    assert journals, "apply wrote no journal"
    for journal in journals:
        assert _mode(journal) == 0o600, journal
        printed.append((journal.name, journal.read_text()))
    for what, text in printed:
        assert "Traceback" not in text, what
        for value in forbidden:
            assert value not in text, f"{what} shows a patient value or the secret"
        assert "ZQPID" not in text, what
