"""HL7 v2 messages written by the tests, and a local store holding a few patients' image sets, for the ADT
feed tests (read, listen, merge and unmerge)."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

from reconciler.cli import main
from reconciler.commands._common import Streams
from reconciler.emulator.store import Store
from tests.support.applyenv import CLI_RATES

DS = "a0" * 16
SECRET_NAME = "QQSECRET^ZZNAME"  # a value no output may show
MSH_TIME = "20240301101500"


def hl7(event: str, control: str, *, pid3: str = "P1^^^HOSP^MR", name: str = "DOE^JANE", dob: str = "19800101",
        sex: str = "F", mrg: str | None = None, extra: tuple[str, ...] = (), end: str = "\r") -> str:
    """One ER7 message (segments ended by END), as a registration system sends it."""
    structure = "ADT_A39" if event in ("A40", "A47") else "ADT_A01"
    segments = [f"MSH|^~\\&|REG|HOSP|RECON|IMG|{MSH_TIME}||ADT^{event}^{structure}|{control}|P|2.5.1",
                f"EVN|{event}|{MSH_TIME}",
                f"PID|1||{pid3}||{name}||{dob}|{sex}", *extra]
    if mrg is not None:
        segments.append(f"MRG|{mrg}")
    return end.join(segments) + end


def document(patient_id: str, study: str, n: int, *, issuer: str | None = None,
             name: str = SECRET_NAME) -> dict[str, Any]:
    patient: dict[str, Any] = {"PatientName": name, "PatientID": patient_id, "PatientBirthDate": "19700101",
                               "PatientSex": "M"}
    if issuer is not None:
        patient["IssuerOfPatientID"] = issuer
    return {"SchemaVersion": "1.1", "Patient": {"DICOM": patient},
            "Study": {"DICOM": {"StudyInstanceUID": study, "StudyDescription": "CHEST"},
                      "Series": {f"{study}.{n}": {"DICOM": {"Modality": "CT", "SeriesNumber": 1},
                                                  "Instances": {f"{study}.{n}.1": {"DICOM": {"InstanceNumber": 1}}}}}}}


def seed(root: Path, image_sets: dict[str, dict[str, Any]], *, primary: bool = False) -> Path:
    """A store at ROOT holding IMAGE_SETS (ID -> document), non-primary unless PRIMARY."""
    store = Store(root)
    store.ensure_datastore(DS, "adt")
    for image_set_id, doc in image_sets.items():
        store.put_image_set(DS, image_set_id, doc, is_primary=primary)
    return root


def cli(*argv: str, backend: list[str] | None = None) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    extra = [*(backend or []), *CLI_RATES] if backend is not None else []
    code = main([*argv, *extra], Streams(out=out, err=err, inp=None))
    return code, out.getvalue(), err.getvalue()
