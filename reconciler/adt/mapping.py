"""HL7 v2 PID/MRG fields -> DICOM Patient module values (PS3.3 C.7.1.1), as small immutable values.

- PID-3 (CX, repeats): the MR identifier, else the first -> PatientID (0010,0020); its CX-4 -> IssuerOfPatientID.
- PID-5 (XPN) family^given^middle^suffix^prefix -> PatientName (0010,0010), PN family^given^middle^prefix^suffix.
- PID-7 (DTM) YYYYMMDD[HHMM[SS]] -> PatientBirthDate (0010,0030), DA: the first 8 digits.
- PID-8 F, M, O -> PatientSex (0010,0040); U, A, N and others have no DICOM value: the attribute is unchanged.
- MRG-1 (CX): the prior PatientID (A40, A47).

PN: https://dicom.nema.org/medical/dicom/current/output/chtml/part05/sect_6.2.html ; XPN:
https://hl7-definition.caristix.com/v2/HL7v2.5.1/DataTypes/XPN . Only fields present in the message are
managed; ``""`` (HL7's explicit null) removes the attribute. Errors name fields, never values.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from reconciler.adt.messages import NULL, MalformedMessage, Message

UPDATES = ("A08", "A31")  # update patient / person information
MERGES = ("A40", "A47")  # merge patient (identifier list), change patient identifier list
HANDLED = UPDATES + MERGES
SEXES = ("M", "F", "O")
REMOVE = None  # a desired value of None: the attribute must be absent
_PN_UNSAFE = re.compile(r"[\^=\\]")  # PN component and group separators, and VM's backslash (PS3.5 6.2)
_ID_UNSAFE = re.compile(r"[\\\x00-\x1f]")  # a LO value holds no backslash (VM) and no control character


@dataclass(frozen=True)
class Identifier:
    """A patient identifier (CX): its ID and assigning authority (the HD's namespace ID; "" when none)."""

    id: str
    issuer: str = ""


@dataclass(frozen=True)
class Correction:
    """What one PID (with its MRG, for a merge) asks of the image sets: the patient they belong to
    (``prior`` for a merge, else ``patient``) and the Patient.DICOM values to write (None: remove)."""

    control_id: str
    event: str
    time: str
    patient: Identifier
    prior: Identifier | None
    attributes: tuple[tuple[str, str | None], ...]

    @property
    def subject(self) -> Identifier:
        """The identifier whose image sets change."""
        return self.prior or self.patient


def choose_identifier(message: Message, segment: str, index: int, field: int) -> Identifier | None:
    """The identifier of a CX field: the repetition whose type (CX-5) is MR, else the first one."""
    count = message.repetitions(segment, index, field)
    chosen = next((r for r in range(1, count + 1) if message.field(segment, index, field, r, 5) == "MR"), 1)
    value = message.field(segment, index, field, chosen, 1)
    if not count or not value or value == NULL:
        return None
    issuer = message.field(segment, index, field, chosen, 4, 1)
    if _ID_UNSAFE.search(value) or _ID_UNSAFE.search(issuer):
        raise MalformedMessage(message.where(segment, index, field),
                               "holds a backslash or a control character, which a DICOM LO value cannot hold",
                               control_id=message.control_id)
    return Identifier(value, issuer)


def person_name(message: Message, index: int) -> str:
    """PID-5's first repetition as a DICOM PN: XPN family^given^middle^suffix^prefix becomes PN
    family^given^middle^prefix^suffix, trailing empty components dropped. A family name of an XPN is an
    FN whose first subcomponent is the surname."""
    parts = [message.field("PID", index, 5, 1, c) for c in (1, 2, 3, 5, 4)]
    if any(_PN_UNSAFE.search(p) for p in parts):
        raise MalformedMessage(message.where("PID", index, 5),
                               "holds ^, = or \\ (escaped), which a DICOM PN component cannot hold",
                               control_id=message.control_id)
    return "^".join(parts).rstrip("^")


def birth_date(value: str, where: str, control_id: str) -> str:
    digits = value[:8]
    if not re.fullmatch(r"\d{8}", digits):
        raise MalformedMessage(where, "is not a date (YYYYMMDD...)", control_id=control_id)
    return digits


def demographics(message: Message, index: int) -> tuple[tuple[str, str | None], ...]:
    """PatientName, PatientBirthDate and PatientSex from PID INDEX, only for the fields present."""
    out: list[tuple[str, str | None]] = []
    if message.raw("PID", index, 5) == NULL:
        out.append(("PatientName", REMOVE))
    elif message.raw("PID", index, 5):
        out.append(("PatientName", person_name(message, index) or REMOVE))
    dob = message.raw("PID", index, 7)
    if dob == NULL:
        out.append(("PatientBirthDate", REMOVE))
    elif dob:
        out.append(("PatientBirthDate", birth_date(message.field("PID", index, 7), message.where("PID", index, 7),
                                                        message.control_id)))
    sex = message.raw("PID", index, 8)
    if sex == NULL:
        out.append(("PatientSex", REMOVE))
    elif sex.upper() in SEXES:  # U, A, N and others have no DICOM value: unchanged
        out.append(("PatientSex", sex.upper()))
    return tuple(out)


def corrections(message: Message) -> tuple[Correction, ...]:
    """The corrections an A08/A31/A40/A47 asks for (one per PID; a merge pairs each PID with its MRG).

    Other events are not handled (callers skip them); MalformedMessage for a handled event that lacks
    what it needs."""
    if message.message_type != "ADT" or message.event not in HANDLED:
        return ()
    pids = message.count("PID")
    if not pids:
        raise MalformedMessage(message.where("PID"), "is missing", control_id=message.control_id)
    merge = message.event in MERGES
    if merge and message.count("MRG") != pids:
        raise MalformedMessage(message.where("MRG", pids), f"{message.event} needs one MRG segment after each PID",
                               control_id=message.control_id)
    out: list[Correction] = []
    for index in range(1, pids + 1):
        patient = choose_identifier(message, "PID", index, 3)
        if patient is None:
            raise MalformedMessage(message.where("PID", index, 3), "has no patient identifier",
                                   control_id=message.control_id)
        prior = choose_identifier(message, "MRG", index, 1) if merge else None
        if merge and prior is None:
            raise MalformedMessage(message.where("MRG", index, 1), "has no prior patient identifier",
                                   control_id=message.control_id)
        attributes = demographics(message, index)
        if merge:
            attributes = (("PatientID", patient.id), *attributes)
            if patient.issuer:
                attributes = (*attributes, ("IssuerOfPatientID", patient.issuer))
        out.append(Correction(message.control_id, message.event, message.time, patient, prior, attributes))
    return tuple(out)
