"""HL7 v2 ER7 -> corrections, with messages written here: escapes, repetitions, the five XPN components, a
birth date with a time, several messages per file (CR, LF, CRLF, MLLP framing), and malformed messages."""

from __future__ import annotations

import pytest

from reconciler.adt.mapping import Correction, Identifier, corrections
from reconciler.adt.messages import MalformedMessage, read_messages
from tests.support.adtenv import SECRET_NAME, hl7


def one(text: str) -> Correction:
    (message,) = read_messages(text)
    (correction,) = corrections(message)
    return correction


def attributes(text: str) -> dict[str, str | None]:
    return dict(one(text).attributes)


def test_a08_maps_name_birth_date_and_sex() -> None:
    c = one(hl7("A08", "C1", name="DOE^JANE", dob="19800101", sex="F"))
    assert (c.control_id, c.event, c.time, c.prior) == ("C1", "A08", "20240301101500", None)
    assert c.patient == Identifier("P1", "HOSP")
    assert dict(c.attributes) == {"PatientName": "DOE^JANE", "PatientBirthDate": "19800101", "PatientSex": "F"}


def test_a_name_with_all_five_components_swaps_suffix_and_prefix() -> None:
    # XPN family^given^middle^suffix^prefix -> PN family^given^middle^prefix^suffix
    assert attributes(hl7("A08", "C1", name="SMITH^JOHN^Q^JR^DR"))["PatientName"] == "SMITH^JOHN^Q^DR^JR"


def test_trailing_empty_name_components_are_dropped() -> None:
    assert attributes(hl7("A08", "C1", name="SMITH^JOHN^^^"))["PatientName"] == "SMITH^JOHN"


@pytest.mark.parametrize(("dob", "expected"), [("19800101", "19800101"), ("198001011230", "19800101"),
                                               ("19800101123045.1234+0100", "19800101")])
def test_a_birth_date_with_a_time_keeps_the_first_eight_digits(dob: str, expected: str) -> None:
    assert attributes(hl7("A08", "C1", dob=dob))["PatientBirthDate"] == expected


@pytest.mark.parametrize(("sex", "expected"), [("M", "M"), ("F", "F"), ("O", "O"), ("f", "F")])
def test_sex_m_f_o_is_kept(sex: str, expected: str) -> None:
    assert attributes(hl7("A08", "C1", sex=sex))["PatientSex"] == expected


@pytest.mark.parametrize("sex", ["U", "A", "N", "X"])
def test_sex_without_a_dicom_value_leaves_the_attribute_alone(sex: str) -> None:
    assert "PatientSex" not in attributes(hl7("A08", "C1", sex=sex))


def test_only_fields_present_are_managed_and_explicit_null_removes() -> None:
    found = attributes(hl7("A08", "C1", name="", dob='""', sex=""))
    assert found == {"PatientBirthDate": None}
    assert attributes(hl7("A08", "C1", name='""'))["PatientName"] is None


@pytest.mark.parametrize(("written", "expected"), [
    ("O\\T\\BRIEN^ANN", "O&BRIEN^ANN"),  # \T\ is the subcomponent separator
    ("SMITH\\F\\JONES^ANN", "SMITH|JONES^ANN"),  # \F\ the field separator
    ("TILDE\\R\\NAME^ANN", "TILDE~NAME^ANN"),  # \R\ the repetition separator
])
def test_escape_sequences_are_decoded(written: str, expected: str) -> None:
    assert attributes(hl7("A08", "C1", name=written))["PatientName"] == expected


@pytest.mark.parametrize("written", ["DOE^ANN\\S\\MARIE", "DOE^ANN\\E\\MARIE"])
def test_an_escape_a_pn_cannot_hold_refuses_the_message_without_its_value(written: str) -> None:
    (message,) = read_messages(hl7("A08", "C1", name=written))
    with pytest.raises(MalformedMessage) as raised:
        corrections(message)
    assert "PID-5" in str(raised.value) and "MARIE" not in str(raised.value)


def test_pid3_repetitions_choose_the_mr_identifier_wherever_it_stands() -> None:
    c = one(hl7("A08", "C1", pid3="999^^^SSA^SS~P7^^^HOSP&1.2.3&ISO^MR~X1^^^LAB^PI"))
    assert c.patient == Identifier("P7", "HOSP")


def test_pid3_without_an_mr_identifier_takes_the_first() -> None:
    assert one(hl7("A08", "C1", pid3="X1^^^LAB^PI~X2^^^OTHER^PI")).patient == Identifier("X1", "LAB")
    assert one(hl7("A08", "C1", pid3="X9")).patient == Identifier("X9", "")


def test_a40_names_the_surviving_and_the_prior_patient() -> None:
    c = one(hl7("A40", "C2", pid3="P1^^^HOSP^MR", mrg="Q9^^^HOSP^MR"))
    assert (c.patient, c.prior, c.subject) == (Identifier("P1", "HOSP"), Identifier("Q9", "HOSP"),
                                               Identifier("Q9", "HOSP"))
    assert dict(c.attributes)["PatientID"] == "P1" and dict(c.attributes)["IssuerOfPatientID"] == "HOSP"


def test_a47_changes_the_identifier() -> None:
    c = one(hl7("A47", "C3", pid3="NEW1^^^HOSP^MR", mrg="OLD1^^^HOSP^MR", name="", dob="", sex=""))
    assert c.prior == Identifier("OLD1", "HOSP")
    assert dict(c.attributes) == {"PatientID": "NEW1", "IssuerOfPatientID": "HOSP"}


def test_an_a40_with_two_patient_groups_merges_each() -> None:
    text = hl7("A40", "C4", pid3="P1^^^HOSP^MR", mrg="Q1^^^HOSP^MR")
    text += "PID|2||P1^^^HOSP^MR||DOE^JANE\rMRG|Q2^^^HOSP^MR\r"
    (message,) = read_messages(text)
    found = corrections(message)
    assert [c.prior for c in found] == [Identifier("Q1", "HOSP"), Identifier("Q2", "HOSP")]


@pytest.mark.parametrize("end", ["\r", "\n", "\r\n"])
def test_several_messages_in_one_text_with_any_segment_end(end: str) -> None:
    text = "".join(hl7("A08", f"C{n}", end=end) for n in range(3))
    assert [m.control_id for m in read_messages(text)] == ["C0", "C1", "C2"]


def test_mllp_framing_bytes_are_tolerated() -> None:
    text = "".join(f"\x0b{hl7('A08', f'C{n}')}\x1c\r" for n in range(2))
    assert [m.control_id for m in read_messages(text)] == ["C0", "C1"]


def test_other_events_map_to_nothing() -> None:
    (a01,) = read_messages(hl7("A01", "C1"))
    assert corrections(a01) == ()
    (oru,) = read_messages(hl7("A08", "C1").replace("ADT^A08^ADT_A01", "ORU^R01^ORU_R01"))
    assert corrections(oru) == ()


@pytest.mark.parametrize(("text", "where"), [
    (hl7("A08", "C1").replace("|C1|", "||"), "MSH-10"),
    (hl7("A08", "C1", dob="1980XX01"), "PID-7"),
    (hl7("A08", "C1", pid3=""), "PID-3"),
    (hl7("A40", "C1"), "MRG"),
    (hl7("A08", "C1", extra=("pv1|1|I",)), "segment 4"),
    ("PID|1||P1\r" + hl7("A08", "C1"), "segment 1"),
])
def test_a_malformed_message_names_its_segment_never_a_value(text: str, where: str) -> None:
    with pytest.raises(MalformedMessage) as raised:
        for message in read_messages(text.replace("DOE^JANE", SECRET_NAME)):
            corrections(message)
    assert where in str(raised.value)
    assert "QQSECRET" not in str(raised.value) and "P1" not in str(raised.value).replace("PID", "")
