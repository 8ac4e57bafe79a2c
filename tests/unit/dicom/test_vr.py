"""vr.check_value: one row per rule, and no message ever holds the value."""

from __future__ import annotations

from typing import Any

import pytest

from reconciler.dicom.dictionary import lookup
from reconciler.dicom.vr import check_value, first_vr, max_multiplicity, vr_alternatives

SECRET = "ZZSECRETZZ"

OK = [
    ("DA", "1", "20240101"),
    ("DA", "1", None),
    ("DA", "1", ""),
    ("TM", "1", "101010"),
    ("TM", "1", "1010"),
    ("TM", "1", "101010.123456"),
    ("DT", "1", "20240101101010.5+0100"),
    ("PN", "1", "DOE^JOHN"),
    ("PN", "1", "DOE^JOHN^^^=ID^X"),
    ("UI", "1", "1.2.840.10008.1.2"),
    ("CS", "1", "CT"),
    ("CS", "2-n", ["ORIGINAL", "PRIMARY"]),
    ("DS", "1", "1.10"),
    ("DS", "1", " -1.5e3 "),
    ("IS", "1", "12 "),
    ("AS", "1", "045Y"),
    ("LO", "1", "x" * 64),
    ("SH", "1", "x" * 16),
    ("US", "1", 512),
    ("US or SS", "1", -5),
    ("FD", "1", 1.5),
    ("FL", "1", 2),
    ("SQ", "1", [{"CodeValue": "1"}]),
    ("OB", "1", "AAE="),
    ("LO", "1", ["one"]),
]

BAD = [
    ("DA", "1", "2024-01-01", "date"),
    ("DA", "1", "20241301", "date"),
    ("TM", "1", "251010", "time"),
    ("TM", "1", "10.5", "time"),
    ("DT", "1", "2024130101", "date-time"),
    ("PN", "1", "A^B^C^D^E^F", "name components"),
    ("PN", "1", "x" * 65, "longer than 64"),
    ("UI", "1", "1.2.03", "UID"),
    ("UI", "1", "x" * 65, "longer than 64"),
    ("CS", "1", "ct", "A-Z"),
    ("CS", "1", "X" * 17, "longer than 16"),
    ("DS", "1", "1,5", "decimal"),
    ("IS", "1", "1.5", "integer"),
    ("IS", "1", "1234567890123", "longer than 12"),
    ("IS", "1", "99999999999", "IS range"),
    ("AS", "1", "45Y", "age"),
    ("LO", "1", "x" * 65, "longer than 64"),
    ("SH", "1", "x" * 17, "longer than 16"),
    ("ST", "1", "x" * 1025, "longer than 1024"),
    ("LO", "1", 5, "must be a string"),
    ("US", "1", "512", "must be a number"),
    ("US", "1", 70000, "0..65535"),
    ("US", "1", True, "must be a number"),
    ("FD", "1", "1.5", "must be a number"),
    ("LO", "1", ["a", "b"], "VM 1 allows at most 1"),
    ("CS", "2", ["A", "B", "C"], "at most 2"),
    ("SQ", "1", "x", "SQ"),
    ("OB", "1", "***", "base64"),
    ("CS", "1-n", [["A"]], "single value"),
]


@pytest.mark.parametrize(("vr", "vm", "value"), OK)
def test_fits(vr: str, vm: str, value: Any) -> None:
    assert check_value(vr, vm, value) == []


@pytest.mark.parametrize(("vr", "vm", "value", "fragment"), BAD)
def test_problem(vr: str, vm: str, value: Any, fragment: str) -> None:
    problems = check_value(vr, vm, value)
    assert problems and fragment in problems[0]


@pytest.mark.parametrize("vr", ["DA", "TM", "DT", "PN", "UI", "CS", "DS", "IS", "AS", "LO", "SH", "US"])
def test_messages_never_hold_the_value(vr: str) -> None:
    for value in (SECRET, [SECRET, SECRET + "2"], SECRET * 20):
        assert not any(SECRET in p for p in check_value(vr, "1", value))


@pytest.mark.parametrize(("vm", "top"), [("1", 1), ("1-3", 3), ("2", 2), ("1-n", None), ("2-2n", None)])
def test_max_multiplicity(vm: str, top: int | None) -> None:
    assert max_multiplicity(vm) == top


@pytest.mark.parametrize(
    ("vr", "alternatives", "first"),
    [("LO", ("LO",), "LO"), ("US or SS", ("US", "SS"), "US"), ("US or SS or OW", ("US", "SS", "OW"), "US"),
     ("OB or OW", ("OB", "OW"), "OB")],
)
def test_vr_alternatives(vr: str, alternatives: tuple[str, ...], first: str) -> None:
    assert vr_alternatives(vr) == alternatives
    assert first_vr(vr) == first


def test_first_vr_of_nothing_is_nothing() -> None:
    assert first_vr(None) is None
    assert first_vr("") is None


def test_a_dictionary_choice_of_vrs_is_split() -> None:
    entry = lookup("SmallestImagePixelValue")  # (0028,0106) US or SS in PS3.6
    assert entry is not None and vr_alternatives(entry.vr) == ("US", "SS")
    assert check_value(entry.vr, entry.vm, -5) == []  # fits SS though not US
