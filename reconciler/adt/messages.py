"""HL7 v2 ER7 text -> one ``Message`` value per message, parsed by python-hl7 (escapes, repetitions, components).

A file or an MLLP block may hold several messages; segments may end with CR, LF or CRLF, and MLLP framing
bytes (``0x0B`` ... ``0x1C 0x0D``) are tolerated. Each message is split out at its MSH segment and parsed on
its own, so a malformed one is refused whole without touching the others. Errors name the segment and field
(``PID-3``), never a value: the messages are patient data.
HL7 v2.5.1 chapter 2 (control) and 3 (patient administration): https://www.hl7.eu/HL7v2x/v251/hl7v251.htm
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import hl7

from reconciler.errors import ReconcilerError

_FRAMING = re.compile("[\x0b\x1c]")
_LINE_END = re.compile("\r\n|\n|\r")
_SEGMENT_ID = re.compile("[A-Z][A-Z0-9]{2}")
NULL = '""'  # HL7's explicit null: delete the value (an empty field means "no change")


class MalformedMessage(ReconcilerError):
    """A message that cannot be read as HL7 v2: ``where`` names the segment (and field), never a value."""

    def __init__(self, where: str, reason: str, *, control_id: str | None = None) -> None:
        super().__init__(f"{where}: {reason}")
        self.where = where
        self.reason = reason
        self.control_id = control_id


@dataclass(frozen=True)
class Message:
    """One parsed message: its control ID (MSH-10), message type and trigger event (MSH-9), time (MSH-7),
    version (MSH-12), the index of its MSH segment in the file (1-based), and the python-hl7 tree."""

    control_id: str
    message_type: str  # ADT, ORU, ...
    event: str  # A08, A40, ...
    time: str
    version: str
    segment_number: int
    tree: Any  # hl7.Message

    def field(self, segment: str, index: int, field: int, repeat: int = 1, component: int = 1,
              sub: int = 1) -> str:
        """One value, unescaped (``\\S\\`` -> ``^``, ...), "" when absent; SEGMENT's INDEX-th occurrence (1-based)."""
        try:
            value: str = self.tree.extract_field(segment, index, field, repeat, component, sub)
        except (IndexError, KeyError):
            return ""
        return value

    def raw(self, segment: str, index: int, field: int) -> str:
        """The field as written (escapes kept), to tell ``""`` (null) from an escaped value."""
        try:
            return str(self.tree.segments(segment)[index - 1](field))
        except (IndexError, KeyError):
            return ""

    def repetitions(self, segment: str, index: int, field: int) -> int:
        """How many repetitions (``~``) FIELD holds (0 when absent or empty)."""
        try:
            value = self.tree.segments(segment)[index - 1](field)
        except (IndexError, KeyError):
            return 0
        if not str(value):
            return 0
        return len(value) if value and not isinstance(value[0], str) else 1

    def where(self, segment: str, index: int = 1, field: int | None = None) -> str:
        """``segment 6 (PID-7) of message MSG2 (ADT^A08)``: SEGMENT's INDEX-th occurrence, numbered as in the
        file (the MSH is ``segment_number``); the message when the segment is not there."""
        name = f"{segment}-{field}" if field is not None else segment
        seen = 0
        for offset, part in enumerate(self.tree):
            if len(part) and str(part(0)) == segment:
                seen += 1
                if seen == index:
                    return f"segment {self.segment_number + offset} ({name}) of message {self.control_id} " \
                           f"({self.message_type}^{self.event})"
        return f"message {self.control_id} ({self.message_type}^{self.event}) at segment {self.segment_number}: {name}"

    def count(self, segment: str) -> int:
        try:
            return len(self.tree.segments(segment))
        except KeyError:
            return 0


def split_messages(text: str) -> list[tuple[int, str]]:
    """(segment number of its MSH in TEXT, the message with CR segment ends) of every message in TEXT.

    Segments before the first MSH (other than blank lines) are a MalformedMessage naming that segment.
    """
    segments = [s.strip(" \t\x00") for s in _LINE_END.split(_FRAMING.sub("\r", text))]
    messages: list[tuple[int, list[str]]] = []
    for number, segment in enumerate(segments, start=1):
        if not segment:
            continue
        if segment.startswith("MSH"):
            messages.append((number, [segment]))
        elif segment[:3] in ("FHS", "BHS", "FTS", "BTS"):  # batch envelopes: the messages inside count
            continue
        elif not messages:
            raise MalformedMessage(f"segment {number}", "found before any MSH segment")
        else:
            messages[-1][1].append(segment)
    return [(number, "\r".join(parts) + "\r") for number, parts in messages]


def parse_message(text: str, segment_number: int = 1) -> Message:
    """Parse one message (its segments separated by CR). MalformedMessage names what is wrong."""
    if len(text) < 8 or not text.startswith("MSH") or text[3] in "\r\n":
        raise MalformedMessage(f"segment {segment_number} (MSH)", "not an MSH segment with its encoding characters")
    try:
        tree = hl7.parse(text)
    except Exception as exc:  # python-hl7 raises ParseException, IndexError, ... on broken separators
        raise MalformedMessage(f"segment {segment_number} (MSH)", f"cannot be parsed ({type(exc).__name__})") from None
    for n, segment in enumerate(tree, start=segment_number):
        name = str(segment(0)) if len(segment) else ""
        if not _SEGMENT_ID.fullmatch(name):
            raise MalformedMessage(f"segment {n}", "has no valid segment ID (three capital letters or digits)")
    msh = Message("", "", "", "", "", segment_number, tree)
    control_id = msh.field("MSH", 1, 10)
    if not control_id:
        raise MalformedMessage(f"segment {segment_number} (MSH-10)", "has no message control ID")
    message_type, event = msh.field("MSH", 1, 9, 1, 1), msh.field("MSH", 1, 9, 1, 2)
    if not message_type:
        raise MalformedMessage(f"segment {segment_number} (MSH-9)", "has no message type", control_id=control_id)
    if message_type == "ADT" and not event:  # an EVN-1 is the pre-2.3 place of the trigger event
        event = msh.field("EVN", 1, 1)
    return Message(control_id, message_type, event, msh.field("MSH", 1, 7), msh.field("MSH", 1, 12),
                   segment_number, tree)


def read_messages(text: str) -> list[Message]:
    """Every message of TEXT, each parsed; the first malformed one raises (nothing of the text is used)."""
    return [parse_message(body, number) for number, body in split_messages(text)]
