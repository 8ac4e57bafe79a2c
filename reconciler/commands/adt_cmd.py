"""`reconciler adt`: HL7 v2 ADT messages (A08/A31 update, A40/A47 merge) become reviewable specs.

``adt read FILE...`` reads files; ``adt listen`` is an MLLP listener that ACKs each message once its spec is
durably written. Both write one spec file per patient into ``--specs DIR`` (mode 0600) and print IDs, file
names and outcomes, never a patient value unless ``--show-phi``.
"""

from __future__ import annotations

import argparse
import re
import signal
from collections.abc import Callable, Collection
from pathlib import Path
from typing import TYPE_CHECKING, Any

from reconciler.commands import SUMMARIES
from reconciler.commands._common import (
    Context,
    add_backend_options,
    add_datastore_option,
    add_phi_options,
    add_rate_options,
    datastore_id,
    schema_ref,
)
from reconciler.errors import ReconcilerError, UsageError

if TYPE_CHECKING:  # only `adt listen` runs an event loop (reconciler.adt.listener imports asyncio)
    import asyncio

_ID = re.compile(r"[0-9a-z]{32}")
MAPPING_NOTE = ("A08/A31: PID-5, PID-7 and PID-8 become PatientName, PatientBirthDate and PatientSex of the "
                "patient's image sets (PID-3: the MR identifier, else the first). A40/A47: the image sets of the "
                "prior patient (MRG-1) take the surviving ID (PID-3) and demographics.")


def register(sub: Any) -> None:
    p: argparse.ArgumentParser = sub.add_parser(
        "adt", help=SUMMARIES["adt"],
        description="Turn HL7 v2 ADT messages into spec files: " + MAPPING_NOTE, allow_abbrev=False)
    asub = p.add_subparsers(dest="adt_command", metavar="SUBCOMMAND")
    asub.required = True

    read = asub.add_parser(
        "read", help="write specs from files of HL7 v2 messages", allow_abbrev=False,
        description="Read HL7 v2 ER7 messages (several per file; CR, LF or CRLF; MLLP framing tolerated) and "
        "write one spec per patient into --specs DIR. " + MAPPING_NOTE + " Other events are skipped. A malformed "
        "message refuses the run (exit 1, naming file and segment) before anything is written.")
    read.add_argument("files", nargs="+", metavar="FILE", help="files of HL7 v2 messages")
    _common_options(read)
    add_phi_options(read, what="print the values written under each file (local use only)")
    read.set_defaults(func=run_read)

    listen = asub.add_parser(
        "listen", help="an MLLP listener: write a spec per message, then ACK it", allow_abbrev=False,
        description="Listen for HL7 v2 messages over MLLP, one at a time per connection. Each is written "
        "as `adt read` writes it, fsync'd, and only then acknowledged (MSA|AA); a message that cannot become a "
        "spec gets AE or AR with an ERR segment and changes no file; a control ID seen before is acknowledged "
        "again and not written twice. SIGTERM or SIGINT: stop accepting, finish the message in hand, exit 0.")
    _common_options(listen)
    listen.add_argument("--port", required=True, type=int,
                        help="the TCP port to listen on (0: any free port; the `listening on` line names it)")
    listen.add_argument("--host", default="127.0.0.1",
                        help="the address to listen on (default 127.0.0.1: this machine only; put the hospital's "
                        "interface engine on the same host or tunnel to it)")
    listen.set_defaults(func=run_listen)


def _common_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--specs", required=True, metavar="DIR", help="the folder to write spec files into")
    add_datastore_option(p, "the datastore whose image sets the specs target")
    p.add_argument("--replace", choices=("allow",),
                   help="write `replace: allow`, so a change a primary image set refuses in place is made by "
                   "replacing it (see the README's Replacement section)")
    add_backend_options(p)
    add_rate_options(p)


def _feed(ctx: Context, *, durable: bool, expected: Collection[str] = ()) -> Any:
    """The feed of this run; EXPECTED: the patient IDs it will look up (a backlog may list the datastore once)."""
    from reconciler.adt.feed import Feed
    from reconciler.adt.folder import SpecFolder
    from reconciler.adt.resolve import Directory

    args = ctx.args
    args.datastore_id = datastore_id(ctx)
    if not _ID.fullmatch(args.datastore_id):
        raise UsageError(f"--datastore-id {args.datastore_id!r}: not a datastore ID (32 lower-case letters or digits)")
    specs = Path(args.specs)
    return Feed(Directory(ctx.api, args.datastore_id, expected), SpecFolder(specs, durable=durable),
                args.replace == "allow", schema_ref(specs / "spec.yaml"))  # any file in DIR: as `import --out DIR`


def run_read(ctx: Context) -> int:
    from reconciler.adt.mapping import Correction, corrections
    from reconciler.adt.messages import MalformedMessage, Message, read_messages
    from reconciler.render.common import plural  # late, like the adt modules: it imports the plan model

    args, streams = ctx.args, ctx.streams
    messages: list[tuple[str, Message, tuple[Correction, ...]]] = []
    for name in args.files:  # every message is read and mapped before anything is written
        try:
            text = Path(name).read_bytes().decode("utf-8")
        except OSError as exc:
            raise ReconcilerError(f"{name}: cannot read ({exc.strerror})") from None
        except UnicodeDecodeError:
            raise ReconcilerError(f"{name}: not UTF-8 text; nothing was written") from None
        try:
            messages += [(name, message, corrections(message)) for message in read_messages(text)]
        except MalformedMessage as exc:
            raise ReconcilerError(f"{name}: {exc}; nothing was written",
                                  hint="fix or remove that message and read the file again") from None
    expected = {c.subject.id for _, _, found in messages for c in found}
    feed = _feed(ctx, durable=False, expected=expected)
    written = 0
    for name, message, found in messages:
        outcome = feed.process(message, found)
        print(f"{name}: {outcome.describe()}", file=streams.err)
        if args.show_phi:
            for attribute, value in outcome.values:
                print(f"    {attribute}: {'(removed)' if value is None else value}", file=streams.err)
        written += len(outcome.files)
    print(f"adt read: {plural(len(messages), 'message')}, {plural(written, 'spec file')} written to {args.specs} "
          "(mode 0600: they hold patient data); "
          "review them with `reconciler plan`", file=streams.err)
    return 0


def run_listen(ctx: Context) -> int:
    from reconciler.adt.intake import answer
    from reconciler.adt.listener import Listener

    args, streams = ctx.args, ctx.streams
    if not 0 <= args.port <= 65535:
        raise UsageError(f"--port {args.port}: must be between 0 and 65535")
    feed = _feed(ctx, durable=True)

    def handle(block: bytes) -> bytes:
        result = answer(feed, block)
        print(result.line, file=streams.err, flush=True)
        return result.ack

    def ready(host: str, port: int) -> None:
        print(f"listening on mllp://{host}:{port}", file=streams.out, flush=True)

    def install(loop: asyncio.AbstractEventLoop, stop: Callable[[], None]) -> None:
        def on_signal(sig: signal.Signals) -> None:
            stop()
            print(f"adt listen: {sig.name}: no new connections; finishing the message in hand", file=streams.err,
                  flush=True)

        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, on_signal, sig)

    try:
        Listener(handle, args.host, args.port, ready).run(install)
    except OSError as exc:
        raise ReconcilerError(f"cannot listen on {args.host}:{args.port} ({exc.strerror or exc})") from None
    print("adt listen: stopped", file=streams.err)
    return 0

