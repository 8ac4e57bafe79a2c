"""HL7 v2 original-mode acknowledgements (MSH, MSA, and ERR for an error), built with python-hl7.

MSA-1 is AA (accepted), AE (error: the message could not be turned into a spec) or AR (rejected: an event or
message type this receiver does not handle, or no readable MSH); MSA-2 echoes the control ID. ERR-3 carries an
HL7 table 0357 code and ERR-8 a message naming segments and fields, never a patient value.
HL7 v2.5.1 2.9.2 (acknowledgement), 2.15.5 (ERR): https://www.hl7.eu/HL7v2x/v251/hl7v251.htm
"""

from __future__ import annotations

import itertools
import os
import time
from typing import Any

_SEQUENCE = itertools.count(1)
CODES = {  # HL7 table 0357, message error condition codes
    "100": "Segment sequence error",
    "101": "Required field missing",
    "102": "Data type error",
    "200": "Unsupported message type",
    "201": "Unsupported event code",
    "207": "Application internal error",
}


def _control_id() -> str:
    """A control ID for the ACK itself (MSH-10 is at most 20 characters up to v2.6)."""
    return f"R{os.getpid() % 100000:05d}{next(_SEQUENCE) % 10**14:014d}"


def escape(text: str) -> str:
    """TEXT for an HL7 field with the default encoding characters (|^~\\&)."""
    for char, code in (("\\", "\\E\\"), ("|", "\\F\\"), ("^", "\\S\\"), ("&", "\\T\\"), ("~", "\\R\\")):
        text = text.replace(char, code)
    return " ".join(text.split())  # no CR or LF inside a field


def acknowledge(tree: Any, code: str, *, error: str | None = None, text: str = "") -> bytes:
    """The ACK of a parsed message TREE (python-hl7 ``Message``): MSA-1 CODE, and an ERR for an error."""
    ack = tree.create_ack(code, message_id=_control_id())
    ack.segment("MSH").assign_field(time.strftime("%Y%m%d%H%M%S", time.gmtime()), 7)
    body = str(ack).rstrip("\r")
    if text:
        body += "|" + escape(text)  # MSA-3, text message (kept for receivers of versions before 2.7)
    if error is not None:
        body += f"\rERR|||{error}^{escape(CODES[error])}^HL70357|E||||{escape(text)}"
    return (body + "\r").encode("utf-8")


def reject_unreadable(reason: str) -> bytes:
    """An AR for a block with no readable MSH: there is no control ID to echo."""
    now = time.strftime("%Y%m%d%H%M%S", time.gmtime())
    return (f"MSH|^~\\&|||||{now}||ACK|{_control_id()}|P|2.5\rMSA|AR||{escape(reason)}\r"
            f"ERR|||100^{CODES['100']}^HL70357|E||||{escape(reason)}\r").encode()
