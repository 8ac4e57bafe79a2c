"""What the command modules share (and the only module they share): output streams, the options every
command that talks to HealthImaging takes (defined in ``_options``, re-exported here), the composition
root of one run (``Context``), the confirmation rule, loading and planning specs, and turning
SIGINT/SIGTERM into a stop request."""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import os
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, TextIO

from reconciler.apply.cancel import Cancellation
from reconciler.client.backends import BackendOptions
from reconciler.commands._options import (
    ALLOW_SHARED_PHI,
    absolute,
    add_backend_options,
    add_blob_limit_option,
    add_datastore_option,
    add_phi_options,
    add_rate_options,
    add_targeting_options,
    add_wait_option,
    backend_from_args,
    blob_limit,
    check_phi_output,
    parse_select,
    require_store,
)
from reconciler.errors import ReconcilerError, SpecError, UsageError
from reconciler.persist import ObjectStore, Storage

__all__ = [
    "ALLOW_SHARED_PHI", "PROMPT", "Context", "Streams", "absolute", "add_backend_options", "add_blob_limit_option",
    "add_datastore_option",
    "add_phi_options", "add_rate_options", "add_targeting_options", "add_wait_option", "backend_from_args",
    "blob_limit", "check_phi_output", "confirm", "datastore_id", "isatty", "parse_select", "plan_specs",
    "require_store",
    "stop_on_signals", "use_colour",
]

# The renderers (and the plan and spec models they import) load on first use, in the Context properties and
# plan_specs below: `emulator serve`, `init`, `adt` and every --help start without them.
if TYPE_CHECKING:
    from reconciler.client.healthimaging import HealthImaging
    from reconciler.plan.incremental import Incremental
    from reconciler.plan.model import Plan
    from reconciler.ratelimit import Clock, Sleep
    from reconciler.render.redact import Redactor
    from reconciler.render.replacement import Rates
    from reconciler.render.reporters import TextReporter
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


class Context:
    """The composition root of one command run, built once by ``reconciler.cli``: the parsed arguments
    and streams, and (each built on first use, then kept) the validated backend options, the client,
    the redactor and the reporter of the command's ``--format``. CLOCK and SLEEP are what the client's
    pacing and retry backoff read the time by and wait with (a test passes a fake clock whose sleep
    advances it)."""

    def __init__(self, args: argparse.Namespace, streams: Streams, *, clock: Clock = time.monotonic,
                 sleep: Sleep = time.sleep) -> None:
        check_phi_output(args)  # before anything is read or built
        self.args = args
        self.streams = streams
        self._clock = clock
        self._sleep = sleep

    @cached_property
    def options(self) -> BackendOptions:
        return backend_from_args(self.args)

    @cached_property
    def api(self) -> HealthImaging:
        """The one client of this run (one limiter: plan, apply and blame share its pacing)."""
        # late: commands that do not talk to AWS never load boto3
        from reconciler.local import connect

        return connect(self.options, clock=self._clock, sleep=self._sleep)

    def finish(self) -> None:
        """At the end of the run: keep the rates the client learned (when it was built) for the next run."""
        api = self.__dict__.get("api")
        if api is not None:
            api.remember_rates()

    @cached_property
    def storage(self) -> Storage:
        """Where this run reads and writes plans, drift states and journals; its one S3 client is made on
        first use of an s3:// location."""
        return Storage(_s3_client)

    @cached_property
    def rates(self) -> Rates:
        """The write rates the client starts at (update, copy, delete), for the time an apply needs, and
        what they are: learned for this account, set by --rate, or the documented quotas."""
        from reconciler.render.replacement import COPY, DELETE, UPDATE, Rates  # late: see the imports above

        api = self.__dict__.get("api")
        if api is not None and self.options.kind != "local":
            return Rates.paced(api.limiter)
        configured = Rates.configured(self.options.rates)
        local = self.options.kind == "local" and not set(self.options.rates) & {"*", UPDATE, COPY, DELETE}
        return dataclasses.replace(configured, basis="local" if local else "--rate" if self.options.rates else "")

    @cached_property
    def redactor(self) -> Redactor:
        """The one redactor of this run, so a value has one fingerprint in everything it prints (the plan,
        the prompt, the report). Its key is RECONCILER_REDACTION_KEY, else the user's key (made on first
        use); only when that cannot be kept does the run make its own, and say so once, on stderr."""
        from reconciler.render.redact import Redactor, unkeyed_note  # late: see the imports above
        from reconciler.render.userkey import run_key

        key = run_key()
        reason = key.unkept or ""
        return Redactor(show_phi=bool(getattr(self.args, "show_phi", False)), key=key.key,
                        on_unkeyed=lambda: print(unkeyed_note(reason), file=self.streams.err))

    @cached_property
    def reporter(self) -> TextReporter:
        """The reporter of ``--format`` (text when the command has none), for standard output."""
        from reconciler.render.reporters import Style, reporter  # late: see the imports above

        style = Style(self.redactor, colour=use_colour(self.streams.out), rates=self.rates)
        return reporter(getattr(self.args, "format", None) or "text", style)

    def text_reporter(self, stream: TextIO) -> TextReporter:
        """A text reporter for STREAM (apply shows its plan as text, on stderr with --format json)."""
        from reconciler.render.reporters import Style, reporter  # late: see the imports above

        return reporter("text", Style(self.redactor, colour=use_colour(stream), rates=self.rates))


def _s3_client() -> ObjectStore:
    from reconciler.client.s3 import S3  # late: local runs never load boto3's S3 model

    return S3()


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
    state, or --no-archive-reads). Their findings are shown on stderr as ``validate`` shows them (series
    and instance UIDs in paths redacted, as in the plan);
    SpecError when any is an error (nothing has been read)."""
    from reconciler.plan.build import build_plan
    from reconciler.plan.retarget import retargets
    from reconciler.plan.targeting import Scope
    from reconciler.plan.targets import TargetError
    from reconciler.render.diagnostics import plan_notes, spec_findings
    from reconciler.spec import expand_paths, load_specs

    docs, diagnostics = load_specs(list(ctx.args.paths))
    for line in spec_findings(diagnostics):
        print(ctx.redactor.text(line), file=ctx.streams.err)
    errors = sum(d.severity == "error" for d in diagnostics)
    if errors:
        raise SpecError(f"the specs are invalid ({errors} error{'s' if errors != 1 else ''}); nothing was read")
    specs: list[SpecDocument] = list(docs)
    shown = _read_progress(ctx.streams) if progress and ctx.streams.err_is_tty() else None
    scope = Scope(tuple(getattr(ctx.args, "target", None) or ()), tuple(getattr(ctx.args, "exclude", None) or ()),
                  tuple(expand_paths(list(ctx.args.paths))[0]))
    try:
        plan = build_plan(specs, ctx.api, parallelism=ctx.options.parallelism, progress=shown, scope=scope,
                          blob_limit=blob_limit(ctx.args), incremental=incremental)
    except TargetError as exc:  # what the targets find cannot be planned (e.g. an empty selector): like spec errors
        for d in exc.diagnostics:
            print(ctx.redactor.text(d.render()), file=ctx.streams.err)
        raise SpecError(target_error_summary(len(exc.diagnostics))) from None
    for line in plan_notes(plan):
        print(ctx.redactor.text(line), file=ctx.streams.err)
    found = retargets(plan, specs)
    if found:  # imageSetId targets of replaced image sets: every format shows how to re-target them
        plan = dataclasses.replace(plan, retargets=found)
    plan = dataclasses.replace(plan, rates=ctx.rates.written())  # what its ETA assumes; a saved plan keeps it
    return plan


def target_error_summary(errors: int) -> str:
    """The last line after the findings of a TargetError: what kind of problem it is, in the user's words."""
    which = "a problem" if errors == 1 else f"{errors} problems"
    return (f"cannot plan: {which} with the image sets the specs target, shown above (a select that finds no "
            "image set, a datastore that does not exist, or two documents that set different values on one "
            "image set); fix the spec lines named there. Nothing was planned or written")


def datastore_id(ctx: Context) -> str:
    """The command's ``--datastore-id``. Without it: a UsageError that names the datastore to pass where the
    backend has exactly one (ListDatastores; a backend that cannot list them gets the plain message), or
    points to ``reconciler ls``, which lists them."""
    given: str | None = getattr(ctx.args, "datastore_id", None)
    if given:
        return given
    prog = f"reconciler {ctx.args.command}"
    try:
        found = [d.datastore_id for d in ctx.api.list_datastores() if d.status in ("ACTIVE", "")]
    except ReconcilerError:  # e.g. a role without medical-imaging:ListDatastores
        found = None
    where = _where(ctx.options)
    if found is None:
        raise UsageError(f"{prog}: --datastore-id is required", hint="`reconciler ls` lists the datastores")
    if len(found) == 1:
        raise UsageError(f"{prog}: --datastore-id is required; pass --datastore-id {found[0]}, the only "
                         f"datastore {where}")
    if not found:
        raise UsageError(f"{prog}: --datastore-id is required, and there is no active datastore {where}")
    raise UsageError(f"{prog}: --datastore-id is required; there are {len(found)} datastores {where}",
                     hint="`reconciler ls` lists them")


def _where(options: BackendOptions) -> str:
    """Where the datastores of a backend are, in words."""
    if options.local_dir:
        return f"in the local store {os.path.abspath(options.local_dir)}"
    if options.endpoint_url:
        return f"at {options.endpoint_url}"
    return "in this AWS account and region"


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


_SCHEMA = Path("schemas") / "spec.schema.json"
SCHEMA_CONVENTION = "../schemas/spec.schema.json"  # a spec in specs/ beside the project's schemas/


def schema_ref(target: Path | None) -> str:
    """The ``$schema`` path of a written spec: never an absolute path of this machine, which would be wrong
    on every other one the spec is committed for. For a file TARGET, relative from its folder to the
    working folder's ``schemas/spec.schema.json`` when it has one; otherwise, and on stdout (None, whose
    destination is unknown), the layout the spec reference shows: spec folders beside ``schemas/``."""
    local = Path.cwd() / _SCHEMA
    if target is not None and local.is_file():
        return Path(os.path.relpath(local, target.parent.resolve())).as_posix()
    return SCHEMA_CONVENTION
