"""The drift state of one command run (plan, drift, apply): its options, opening it before the plan (with a
note or a warning whenever the run has to read everything), and saving it afterwards; and the cost of the
run, from the client's counters."""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from pathlib import Path

from reconciler.api import BackendIdentity
from reconciler.commands._common import Context
from reconciler.errors import UsageError
from reconciler.persist import is_s3, split_s3
from reconciler.plan.cost import Cost, cost_of
from reconciler.plan.incremental import DEFAULT_MARGIN, Incremental, after_apply, next_state
from reconciler.plan.model import Plan
from reconciler.plan.runinfo import StateInfo
from reconciler.plan.state import DriftState, Loaded, OtherBackend, StateKey, key_from_env, load, save
from reconciler.render.common import plural


def add_state_options(p: argparse.ArgumentParser, *, drift: bool = False) -> None:
    group = p.add_argument_group("drift state (read only what changed since the last run)")
    group.add_argument(
        "--state", metavar="PATH|s3://BUCKET/KEY",
        help="keep what was verified in sync in this file (mode 0600) or S3 object (server-side encrypted), and "
        "read metadata only for image sets that changed since; needs RECONCILER_STATE_KEY (or "
        "RECONCILER_REDACTION_KEY), a secret of 32 or more characters")
    group.add_argument(
        "--skew-margin", metavar="SECONDS", type=float, default=DEFAULT_MARGIN,
        help="with --state, also ask for changes this long before the last run: clock skew and updates in "
        f"flight (default {DEFAULT_MARGIN:g})")
    if drift:
        group.add_argument("--refresh", action="store_true",
                           help="read every image set, as without a state, and write the state afresh")
        group.add_argument(
            "--no-archive-reads", action="store_true",
            help="do not read image sets in the archive tier whose version has not moved (a read would move them "
            "back to Frequent Access); they are reported as not verified")


@dataclass
class StateRun:
    """The state of this run: where it lives, its key, what opening it found, and the backend it is for."""

    location: str
    key: StateKey
    loaded: Loaded
    backend: BackendIdentity
    refresh: bool

    def info(self, plan: Plan) -> StateInfo:
        """What the reports say about the state (no patient data: a location, a status, counts)."""
        status = "refresh" if self.refresh else self.loaded.status
        known = len(self.loaded.state.entries) if self.loaded.state is not None else 0
        return StateInfo(self.location, status, self.loaded.problem, known)


def open_state(ctx: Context) -> tuple[Incremental | None, StateRun | None]:
    """How this run uses a drift state (None, None: not at all). Says on stderr when it reads everything."""
    args, err = ctx.args, ctx.streams.err
    margin = getattr(args, "skew_margin", DEFAULT_MARGIN)
    if not margin >= 0:
        raise UsageError(f"--skew-margin {margin:g}: must be 0 or more")
    skip, refresh = bool(getattr(args, "no_archive_reads", False)), bool(getattr(args, "refresh", False))
    location = getattr(args, "state", None)
    if location is None:
        return (Incremental(None, skip_archived=True) if skip else None), None
    if is_s3(location):
        split_s3(location)  # a bad URL fails before anything is read
    elif not Path(location).resolve().parent.is_dir():
        raise UsageError(f"--state {location}: the folder {Path(location).parent} does not exist",
                         hint="create it, or name a state file in an existing folder")
    key = key_from_env()
    backend = ctx.api.backend_identity()
    try:
        loaded = load(location, key, backend, ctx.storage)
    except OtherBackend as exc:
        if not refresh:
            raise
        print(f"note: --refresh: {exc.message.split(';')[0]}; it is replaced", file=err)
        loaded = Loaded(None)
    if refresh:
        print(f"note: --refresh: every image set is read, and the drift state {location} is written afresh",
              file=err)
    elif loaded.problem is not None:
        print(f"warning: the drift state cannot be used: {loaded.problem}; every image set is read (a full "
              "run), and a fresh state is written", file=err)
    elif loaded.state is None:
        print(f"note: no drift state at {location} yet: every image set is read, and the state is written at "
              "the end", file=err)
    inc = Incremental(key, loaded.state, margin, skip_archived=skip, refresh=refresh)
    return inc, StateRun(location, key, loaded, backend, refresh)


def save_state(ctx: Context, run: StateRun, plan: Plan, verified: dict[tuple[str, str], str | None] | None = None,
               *, saved_plan: bool = False, replaced: dict[tuple[str, str], str] | None = None) -> None:
    """Write the state this run leaves: what the plan found in sync, then what an apply verified (VERIFIED)
    and the replacements it made (REPLACED: the retired image set -> its new ID).

    A saved plan's apply only records what it verified; the rest of the state is kept as it was."""
    if saved_plan:
        state = run.loaded.state or DriftState(run.backend)
    else:
        state = next_state(run.loaded.state, plan, run.key, run.backend)
    if verified:
        started = plan.run.started_at or plan.run.created_at or 0.0
        after_apply(state, plan, verified, run.key, float(started), replaced)
    save(state, run.location, run.key, ctx.storage)
    print(f"Drift state written to {run.location}: {plural(len(state.entries), 'image set')} verified in sync.",
          file=ctx.streams.err)


def run_cost(ctx: Context, plan: Plan | None) -> Cost:
    """The cost of this run so far, from the one client's counters."""
    stats = ctx.api.stats
    return cost_of(stats.calls(), stats.retries(), plan.tier_ups if plan is not None else 0)
