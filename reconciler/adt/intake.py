"""What the listener does with one MLLP block: parse, process, and the ACK that says how it went.

| outcome                                                   | MSA-1 | ERR-3 (table 0357)            |
|-----------------------------------------------------------|-------|-------------------------------|
| spec written durably, or nothing to write, or a duplicate | AA    |                               |
| an event or message type not handled (A01, ORU, ...)      | AR    | 201 / 200                     |
| no readable MSH                                           | AR    | 100                           |
| malformed (a required field missing, a bad date, ...)     | AE    | 101 / 102                     |
| HealthImaging or the folder failed: nothing was recorded  | AE    | 207 (the sender may resend)   |
"""

from __future__ import annotations

from dataclasses import dataclass

from reconciler.adt.ack import acknowledge, reject_unreadable
from reconciler.adt.feed import Feed
from reconciler.adt.messages import MalformedMessage, parse_message, split_messages
from reconciler.errors import ReconcilerError


@dataclass(frozen=True)
class Answer:
    ack: bytes
    line: str  # for the listener's log: IDs and outcomes, never patient values


def answer(feed: Feed, block: bytes) -> Answer:
    """The ACK for BLOCK (one message; MLLP carries one per block) and a log line. Never raises."""
    try:
        text = block.decode("utf-8")
        parts = split_messages(text)
        if len(parts) != 1:
            raise MalformedMessage("block", f"holds {len(parts)} messages; MLLP carries one per block")
        number, body = parts[0]
        message = parse_message(body, number)
    except UnicodeDecodeError:
        return Answer(reject_unreadable("the block is not UTF-8 text"), "refused a block that is not UTF-8 text")
    except MalformedMessage as exc:
        return Answer(reject_unreadable(str(exc)), f"refused a block: {exc}")
    try:
        outcome = feed.process(message)
    except MalformedMessage as exc:
        code = "102" if "not a date" in exc.reason or "cannot hold" in exc.reason else "101"
        return Answer(acknowledge(message.tree, "AE", error=code, text=str(exc)),
                      f"{message.event} {message.control_id}: AE, nothing written: {exc}")
    except (ReconcilerError, OSError) as exc:
        return Answer(acknowledge(message.tree, "AE", error="207", text="could not be processed; send it again"),
                      f"{message.event} {message.control_id}: AE, nothing recorded: {_reason(exc)}")
    if outcome.status == "skipped":
        code = "201" if message.message_type == "ADT" else "200"
        return Answer(acknowledge(message.tree, "AR", error=code, text=outcome.describe()),
                      f"{outcome.describe()}: AR")
    return Answer(acknowledge(message.tree, "AA"), f"{outcome.describe()}: AA")


def _reason(exc: Exception) -> str:
    if isinstance(exc, OSError):
        return f"{exc.strerror or type(exc).__name__} ({exc.filename})"
    return str(exc)
