"""What the command modules share (and the only module they share): output streams, the options every
command that talks to HealthImaging takes, the composition root of one run (``Context``), the
confirmation rule, loading and planning specs, and turning SIGINT/SIGTERM into a stop request."""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import sys
import threading
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from functools import cached_property
from types import FrameType
from typing import TYPE_CHECKING, TextIO

from reconciler.apply.cancel import Cancellation
from reconciler.client.backends import BackendOptions
from reconciler.errors import SpecError, UsageError
from reconciler.ratelimit import parse_limits, rate_of
from reconciler.render.common import DEFAULT_UPDATE_RATE
from reconciler.render.diagnostics import plan_notes, spec_findings
from reconciler.render.redact import Redactor
from reconciler.render.reporters import Style, TextReporter, reporter

if TYPE_CHECKING:
    from reconciler.client.healthimaging import HealthImaging
    from reconciler.plan.incremental import Incremental
    from reconciler.plan.model import Plan
    from reconciler.spec.model import SpecDocument

PROMPT = "Do you want to perform these actions? Only 'yes' will be accepted."


@dataclass
class Streams:
    """Where a command writes. Tests pass StringIO objects; the CLI passes the process's streams."""

    out: TextIO = field(default_factory=lambda: sys.stdout)
    err: TextIO = field(default_factory=lambda: sys.stderr)
    inp: TextIO | None = field(default_factory=lambda: sys.stdin)

    def out_is_tty(self) -> bool:
        return isatty(self.out)

    def in_is_tty(self) -> bool:
        return self.inp is not None and isatty(self.inp)

    def err_is_tty(self) -> bool:
        return isatty(self.err)


def isatty(stream: TextIO) -> bool:
    """Whether STREAM is a terminal; False for anything that cannot tell (StringIO, closed files)."""
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False


def use_colour(stream: TextIO, environ: Mapping[str, str] | None = None) -> bool:
    """Colour on a terminal only, and never when ``NO_COLOR`` is set to anything but the empty string,
    as https://no-color.org asks (a terminal included)."""
    env = os.environ if environ is None else environ
    return isatty(stream) and not env.get("NO_COLOR")


def add_backend_options(parser: argparse.ArgumentParser) -> None:
    """Where requests go (real AWS, an endpoint URL, or the embedded emulator), on every command that
    talks to HealthImaging."""
    group = parser.add_argument_group("backend (default: real AWS with the standard credential chain)")
    group.add_argument("--region", help="AWS region (default: from the environment; us-east-1 with a custom endpoint)")
    group.add_argument("--profile", help="AWS named profile")
    group.add_argument(
        "--endpoint-url",
        metavar="URL",
        help="any HealthImaging-compatible HTTP endpoint, e.g. `reconciler emulator serve`",
    )
    group.add_argument(
        "--local",
        metavar="DIR",
        default=os.environ.get("RECONCILER_LOCAL") or None,
        help="use the embedded emulator on the existing store in DIR, in process (env RECONCILER_LOCAL); "
        "create a store with `reconciler emulator import-dicom` or `load`",
    )
    # bounded waits on a dead or silent endpoint (each attempt; retries are bounded separately)
    group.add_argument("--connect-timeout", metavar="SECONDS", type=float, default=10.0,
                       help="give up connecting to the endpoint after this long (default 10)")
    group.add_argument("--read-timeout", metavar="SECONDS", type=float, default=60.0,
                       help="give up waiting for an answer after this long (default 60)")


def add_rate_options(parser: argparse.ArgumentParser) -> None:
    """Client-side rate limits and parallelism."""
    group = parser.add_argument_group("rate")
    group.add_argument(
        "--rate",
        metavar="OPERATION=TPS[:BURST]",
        action="append",
        default=[],
        help="client-side limit for one operation, repeatable, e.g. UpdateImageSetMetadata=1; BURST is how "
        "many may go at once (default: one second's worth, at least 1; give :1 for a server that allows a "
        "burst of 1). Defaults: the documented HealthImaging quotas",
    )
    group.add_argument(
        "--parallelism",
        metavar="N",
        type=int,
        default=8,
        help="requests in flight at once (default 8)",
    )


def add_targeting_options(p: argparse.ArgumentParser) -> None:
    """``--target`` and ``--exclude`` (plan, apply, drift), as terraform's -target and OpenTofu's -exclude."""
    group = p.add_argument_group("targeting (applied once every select is resolved)")
    group.add_argument("--target", action="append", default=[], metavar="IMAGE_SET_ID|FILE",
                       help="plan only this image set, or every image set the documents of this spec file (or "
                       "folder) target; repeatable. The plan lists what was left out")
    group.add_argument("--exclude", action="append", default=[], metavar="IMAGE_SET_ID|FILE",
                       help="leave this image set out, or every image set the documents of this spec file (or "
                       "folder) target; repeatable, applied after --target. An argument that matches nothing "
                       "is an error")


def add_wait_option(p: argparse.ArgumentParser) -> None:
    """How long one update may keep an image set LOCKED before it is reported failed."""
    p.add_argument(
        "--wait-timeout",
        metavar="SECONDS",
        type=float,
        default=900.0,
        help="give up waiting for one update to leave LOCKED after this long (default 900)",
    )


def parse_select(text: str) -> tuple[str, str]:
    """``--select KEY=VALUE`` as (KEY, VALUE); UsageError naming the option (never the value) when malformed."""
    key, sep, value = text.partition("=")
    if not sep or not key or not value:
        raise UsageError("--select: expected KEY=VALUE, e.g. DICOMPatientId=P1")
    return key, value


def backend_from_args(args: argparse.Namespace) -> BackendOptions:
    """The validated backend and rate options of a parsed command line (UsageError when bad).

    A ``--local`` directory (or ``RECONCILER_LOCAL``) must already hold a store: these commands read
    or update one, and a mistyped path must not quietly become a new, empty store.
    """
    parallelism = getattr(args, "parallelism", 8)
    if parallelism is None or parallelism < 1:
        raise UsageError(f"--parallelism {parallelism}: must be at least 1")
    limits = parse_limits(getattr(args, "rate", None) or [])  # parsed once: rates and bursts
    options = BackendOptions(
        region=getattr(args, "region", None) or None,
        profile=getattr(args, "profile", None) or None,
        endpoint_url=getattr(args, "endpoint_url", None) or None,
        local_dir=getattr(args, "local", None) or None,
        rates={op: tps for op, (tps, _burst) in limits.items()},
        bursts={op: burst for op, (_tps, burst) in limits.items() if burst is not None},
        parallelism=parallelism,
        connect_timeout=getattr(args, "connect_timeout", 10.0),
        read_timeout=getattr(args, "read_timeout", 60.0),
    ).validate()
    if options.local_dir is not None:
        require_store(options.local_dir)
    return options


def require_store(directory: str, *, serve: bool = False) -> None:
    """UsageError unless DIRECTORY holds an emulator store; nothing is created either way."""
    from reconciler.emulator.store import has_store  # late: AWS users never load the emulator

    if has_store(directory):
        return
    why = "" if os.path.isdir(directory) else " (no such directory)"
    also = f", or start an empty one with `reconciler emulator serve --local {directory} --init`" if serve else ""
    raise UsageError(
        f"no emulator store in {directory}{why}; create one with `reconciler emulator import-dicom "
        f"--local {directory} --datastore-id D PATH...` or `reconciler emulator load --local {directory} ...`"
        f"{also}",
        hint=None if serve else "the directory comes from --local or RECONCILER_LOCAL",
    )


class Context:
    """The composition root of one command run, built once by ``reconciler.cli``: the parsed arguments
    and streams, and (each built on first use, then kept) the validated backend options, the client,
    and the reporter of the command's ``--format``."""

    def __init__(self, args: argparse.Namespace, streams: Streams) -> None:
        self.args = args
        self.streams = streams

    @cached_property
    def options(self) -> BackendOptions:
        return backend_from_args(self.args)

    @cached_property
    def api(self) -> HealthImaging:
        """The one client of this run (one limiter: plan, apply and blame share its pacing)."""
        # late: commands that do not talk to AWS never load boto3
        from reconciler.local import connect

        return connect(self.options)

    @cached_property
    def update_rate(self) -> float:
        """The UpdateImageSetMetadata rate the client paces at, for the time an apply needs."""
        return rate_of("UpdateImageSetMetadata", self.options.rates) or DEFAULT_UPDATE_RATE

    @cached_property
    def reporter(self) -> TextReporter:
        """The reporter of ``--format`` (text when the command has none), for standard output."""
        redactor = Redactor(show_phi=bool(getattr(self.args, "show_phi", False)))
        style = Style(redactor, colour=use_colour(self.streams.out), rate=self.update_rate)
        return reporter(getattr(self.args, "format", None) or "text", style)

    def text_reporter(self, stream: TextIO) -> TextReporter:
        """A text reporter for STREAM (apply shows its plan as text, on stderr with --format json)."""
        return reporter("text", Style(Redactor(), colour=use_colour(stream), rate=self.update_rate))


def confirm(
    streams: Streams, auto_approve: bool, what: str, *, ask: bool = False, prompt_on_out: bool = True
) -> bool:
    """The confirmation rule of apply and revert: --auto-approve, else a terminal and the answer 'yes'.

    Without a terminal this raises (before anything is sent); with ``ask`` it prompts and reads one line.
    """
    if auto_approve:
        return True
    if not streams.in_is_tty() or streams.inp is None:
        raise UsageError(
            f"{what} needs confirmation, but standard input is not a terminal",
            hint="pass --auto-approve" + (", or apply a saved plan (plan --out)" if what == "apply" else ""),
        )
    if not ask:
        return True
    prompt_to = streams.out if prompt_on_out else streams.err
    prompt_to.write(f"\n{PROMPT}\n  Enter a value: ")
    prompt_to.flush()
    return streams.inp.readline().strip() == "yes"


def plan_specs(ctx: Context, *, progress: bool = False, incremental: Incremental | None = None) -> Plan:
    """Load the specs of ``ctx.args.paths`` and plan them with the run's client (with INCREMENTAL: a drift
    state, or --no-archive-reads). Their findings are shown on stderr as ``validate`` shows them;
    SpecError when any is an error (nothing has been read)."""
    from reconciler.plan.build import build_plan
    from reconciler.plan.targeting import Scope
    from reconciler.plan.targets import TargetError
    from reconciler.spec import expand_paths, load_specs

    docs, diagnostics = load_specs(list(ctx.args.paths))
    for line in spec_findings(diagnostics):
        print(line, file=ctx.streams.err)
    errors = sum(d.severity == "error" for d in diagnostics)
    if errors:
        raise SpecError(f"the specs are invalid ({errors} error{'s' if errors != 1 else ''}); nothing was read")
    specs: list[SpecDocument] = list(docs)
    shown = _read_progress(ctx.streams) if progress and ctx.streams.err_is_tty() else None
    scope = Scope(tuple(getattr(ctx.args, "target", None) or ()), tuple(getattr(ctx.args, "exclude", None) or ()),
                  tuple(expand_paths(list(ctx.args.paths))[0]))
    try:
        plan = build_plan(specs, ctx.api, parallelism=ctx.options.parallelism, progress=shown, scope=scope,
                          incremental=incremental)
    except TargetError as exc:  # the targets do not hold (e.g. an empty selector): like spec errors
        for d in exc.diagnostics:
            print(d.render(), file=ctx.streams.err)
        errors = len(exc.diagnostics)
        raise SpecError(f"the spec targets do not hold ({errors} error{'s' if errors != 1 else ''}); "
                        "nothing was planned or written") from None
    for line in plan_notes(plan):
        print(line, file=ctx.streams.err)
    return plan


def _read_progress(streams: Streams) -> Callable[[int, int], None]:
    def report(done: int, total: int) -> None:
        end = "\n" if done == total else ""
        print(f"\rread {done}/{total} image sets", end=end, file=streams.err, flush=True)

    return report


# -- signals at the edge: while a block runs, SIGINT (Ctrl-C) and SIGTERM (a cancelled CI job, a pod being
# stopped) ask a ``Cancellation`` to stop, instead of raising KeyboardInterrupt or killing the process. The
# handler only records the request (the first stops sending, a second aborts); the executor's main loop
# acts on it. Python runs signal handlers in the main thread only, so from any other thread (an embedding
# program) the block runs with the process's own handling unchanged.
# https://docs.python.org/3/library/signal.html#signals-and-threads

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


@contextlib.contextmanager
def stop_on_signals(cancel: Cancellation) -> Iterator[None]:
    """Route SIGINT and SIGTERM to ``cancel.request`` for the duration of the block, then restore."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handle(signum: int, _frame: FrameType | None) -> None:
        cancel.request(signal.Signals(signum).name)

    previous = {sig: signal.signal(sig, handle) for sig in STOP_SIGNALS}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler if handler is not None else signal.SIG_DFL)
