"""constraints (force, generated keys), normalize.values_equal and phi.is_phi."""

from __future__ import annotations

from typing import Any

import pytest

from reconciler.dicom import phi
from reconciler.dicom.constraints import FORCE_KEYS, GENERATED_KEYS, force_reason, is_generated
from reconciler.dicom.normalize import values_equal


@pytest.mark.parametrize("key", sorted(GENERATED_KEYS | {"7FE00010"}))
def test_generated(key: str) -> None:
    assert is_generated(key)


@pytest.mark.parametrize("key", ["PatientName", "Rows", "00091001"])
def test_not_generated(key: str) -> None:
    assert not is_generated(key)


@pytest.mark.parametrize(
    ("key", "vr", "value", "fragment"),
    [
        *[(k, None, "1.2.3", "identifying") for k in sorted(FORCE_KEYS)],
        ("0020000D", None, "1.2.3", "identifying"),
        ("00091001", "LO", "x", "private"),
        ("00091001", "LO", None, "private"),
        ("ReferencedImageSequence", None, [{"ReferencedSOPInstanceUID": "1.2"}], "sequence"),
        ("ImageType", None, ["ORIGINAL", "PRIMARY"], "multi-valued"),
        ("ImageType", None, ["ORIGINAL"], "multi-valued"),
        ("PatientName", None, ["A", "B"], "multi-valued"),
        ("StudyDate", None, "2024-01-01", "not compatible with VR DA"),
        ("Rows", None, "512", "not compatible with VR US"),
        ("PatientNmae", None, "x", "not a standard DICOM attribute"),
        ("00110010", None, "x", "private"),
        ("00120099", None, "x", "unknown tag"),
    ],
)
def test_force_reason(key: str, vr: str | None, value: Any, fragment: str) -> None:
    reason = force_reason(key, vr, value)
    assert reason is not None and fragment in reason


@pytest.mark.parametrize(
    ("key", "value"),
    [("PatientName", "DOE^JANE"), ("StudyDate", "20240101"), ("Rows", 512), ("StudyDescription", None),
     ("SliceThickness", "1.10"), ("PatientName", ["DOE^JANE"])],
)
def test_force_not_needed(key: str, value: Any) -> None:
    assert force_reason(key, None, value) is None


def test_force_reason_never_holds_the_value() -> None:
    secret = "ZZSECRETZZ"
    for key in ["StudyDate", "PatientName", "00091001", "SOPInstanceUID", "Rows", "Unknownish"]:
        reason = force_reason(key, None, [secret, secret]) or ""
        assert secret not in reason


@pytest.mark.parametrize(
    ("live", "desired", "vr", "equal"),
    [
        ("1 ", "1", "IS", True),
        (" 1", "1", "IS", True),
        ("1.10", "1.1", "DS", True),
        ("1e1", "10", "DS", True),
        ("1.2", "1.3", "DS", False),
        ("CT ", "CT", "CS", True),
        ("1.2.3\0", "1.2.3", "UI", True),
        (" CT", "CT", "CS", False),
        ("DOE^JOHN^^", "DOE^JOHN", "PN", True),
        ("DOE^JOHN", "DOE^JANE", "PN", False),
        (["A"], "A", "CS", True),
        ("A", ["A"], "CS", True),
        (["A", "B "], ["A", "B"], "CS", True),
        (["A", "B"], ["B", "A"], "CS", False),
        (["A", "B"], "A", "CS", False),
        (None, None, None, True),
        (None, "", "LO", True),
        (None, "x", "LO", False),
        (512, 512.0, "US", True),
        (512, "512", "US", False),
        (1.5, "1.50", "DS", True),
        ([{"CodeValue": "1 "}], [{"CodeValue": "1"}], "SQ", True),
        ([{"CodeValue": "1"}], [{"CodeMeaning": "1"}], "SQ", False),
        ("x ", "x", None, True),
        (True, 1, None, False),
        ({1, 2}, [1, 2], None, False),
        (float("nan"), "1", "DS", False),
    ],
)
def test_values_equal(live: Any, desired: Any, vr: str | None, equal: bool) -> None:
    assert values_equal(live, desired, vr) is equal
    assert values_equal(desired, live, vr) is equal


@pytest.mark.parametrize(
    ("key", "expected"),
    [
        ("PatientName", True),
        ("PatientID", True),
        ("PatientBirthDate", True),
        ("AccessionNumber", True),
        ("StudyInstanceUID", True),
        ("ReferringPhysicianName", True),
        ("InstitutionName", True),
        ("00100010", True),
        ("00091001", True),
        ("60003000", True),
        ("NotAKeyword", True),
        ("Modality", False),
        ("Rows", False),
        ("SliceThickness", False),
        ("00280010", False),
        ("ImageFrames", False),
    ],
)
def test_is_phi(key: str, expected: bool) -> None:
    assert phi.is_phi(key) is expected


def test_phi_list_cites_annex_e() -> None:
    assert "part15" in phi.SOURCE and len(phi.PHI_KEYWORDS) > 250
