"""`reconciler apply`: apply a saved plan, or plan and apply specs, with version guards"""

from __future__ import annotations

import argparse
import dataclasses
import os
from pathlib import Path
from typing import Any

from reconciler.apply.executor import ApplyOptions
from reconciler.apply.report import ApplyReport, ImageSetResult
from reconciler.apply.resume import locate_copies, resume_plan
from reconciler.apply.session import ApplySession
from reconciler.apply.waiter import WaitPolicy
from reconciler.commands import SUMMARIES
from reconciler.commands._common import (
    Context,
    add_backend_options,
    add_blob_limit_option,
    add_phi_options,
    add_rate_options,
    add_targeting_options,
    add_wait_option,
    confirm,
    plan_specs,
    require_store,
    stop_on_signals,
)
from reconciler.commands._state import StateRun, add_state_options, open_state, run_cost, save_state
from reconciler.errors import UsageError
from reconciler.persist import is_s3, split_s3
from reconciler.plan.model import Plan
from reconciler.plan.planfile import backend_options, check_backend, check_specs, load_plan
from reconciler.render.common import cost_line

_SPEC_SUFFIXES = (".yaml", ".yml")


def register(sub: Any) -> None:
    p: argparse.ArgumentParser = sub.add_parser(
        "apply",
        help=SUMMARIES["apply"],
        description="Apply a saved plan (as saved, without asking; without backend options, against the backend "
        "it recorded; refused when its spec files changed), or plan spec files/folders and apply after "
        "confirmation. Every request is guarded by the version the plan read; each image set is waited for, "
        "verified, and journalled. Exit 0 converged, 1 any failure, 3 stale only. "
        "A first SIGINT (Ctrl-C) or SIGTERM stops sending and waits up to --drain-timeout for the updates "
        "in flight, then prints the summary and exits 130 (SIGINT) or 143 (SIGTERM); a second one stops "
        "at once.",
    )
    p.add_argument("paths", nargs="+", metavar="PLANFILE|PATH", help="a saved plan, or spec files/folders")
    p.add_argument("--auto-approve", action="store_true", help="do not ask for confirmation")
    p.add_argument("--format", choices=["text", "json"], default="text",
                   help="output format of the apply report (default text; with json the plan is shown on stderr)")
    add_phi_options(p, "in the plan shown before applying: ")
    p.add_argument(
        "--journal",
        metavar="PATH",
        help="write the apply journal (JSON lines, mode 0600) to PATH "
        "(default: .reconciler/journal/apply-<UTC time>-<pid>.jsonl); with s3://BUCKET/PREFIX/ it is "
        "written to that default local path and uploaded under the prefix when apply ends (and after each "
        "step of a replacement); a re-run reads the journals under the prefix to finish a replacement",
    )
    add_blob_limit_option(p)
    add_wait_option(p)
    # Kubernetes sends SIGTERM, then SIGKILL after terminationGracePeriodSeconds (default 30):
    # https://kubernetes.io/docs/concepts/workloads/pods/pod-lifecycle/#pod-termination
    p.add_argument(
        "--drain-timeout",
        metavar="SECONDS",
        type=float,
        default=25.0,
        help="after SIGINT or SIGTERM, wait at most this long for the updates in flight to finish and be "
        "verified (default 25: inside the 30 s a Kubernetes pod gets before SIGKILL)",
    )
    add_targeting_options(p)
    add_state_options(p)
    add_backend_options(p)
    add_rate_options(p)
    p.set_defaults(func=run)


def saved_plan_path(paths: list[str]) -> str | None:
    """The PLANFILE when the arguments are one saved plan (an s3:// URL, or a file that is not YAML)."""
    if len(paths) != 1:
        return None
    path = paths[0]
    if path.startswith("s3://"):
        return path
    p = Path(path)
    return path if p.is_file() and p.suffix.lower() not in _SPEC_SUFFIXES else None


def run(ctx: Context) -> int:
    args, streams = ctx.args, ctx.streams
    if args.wait_timeout <= 0:
        raise UsageError(f"--wait-timeout {args.wait_timeout:g}: must be greater than 0")
    if not args.drain_timeout >= 0:
        raise UsageError(f"--drain-timeout {args.drain_timeout:g}: must be 0 or more")
    missing = [p for p in args.paths if not is_s3(p) and not os.path.exists(p)]
    if missing:  # before the confirmation rule, which would otherwise be the first thing said
        raise UsageError(f"no such file or folder: {', '.join(missing)}")
    planfile = saved_plan_path(args.paths)
    if planfile is not None and (args.target or args.exclude):
        raise UsageError(f"--target and --exclude narrow a plan as it is made; the saved plan {planfile} is "
                         "applied as saved", hint="plan again with them (`reconciler plan ... --target ... "
                         "--out PLANFILE`) and apply that plan")
    if planfile is not None and args.blob_limit is not None:
        raise UsageError(f"--blob-limit splits the requests of a plan as it is made; the saved plan {planfile} is "
                         "applied as saved", hint="plan again with it (`reconciler plan ... --blob-limit BYTES --out "
                         "PLANFILE`) and apply that plan")
    # JSON output stays one document on stdout: the plan (and the prompt) then go to stderr
    shown = streams.out if args.format == "text" else streams.err
    if is_s3(args.journal):
        split_s3(args.journal, prefix=True)  # a bad URL fails before anything is read or sent
    saved = _read_saved(ctx, planfile) if planfile is not None else None  # before the client is made
    session = _session(ctx)
    if planfile is not None and saved is not None:
        plan = _checked(ctx, saved, planfile)  # one for another backend, or for changed specs, raises here
        ctx.redactor.learn(plan.fingerprints)  # its values as the plan showed them (the PR comment's)
        # the Cost line is this run's, at the end: the plan run's cost stays for `show PLANFILE`
        shown.write(ctx.text_reporter(shown).plan(dataclasses.replace(plan, cost=None)))
        _incremental, state = open_state(ctx)  # a state for another backend, too
    else:
        confirm(streams, args.auto_approve, "apply")
        incremental, state = open_state(ctx)
        plan = plan_specs(ctx, incremental=incremental)  # with the client the apply will use (one limiter)
        plan = resume_plan(plan, locate_copies(ctx.api, session.ledger.unfinished()))
        for p in plan.image_sets:
            if p.replacement is not None and not p.replacement.paths:  # continued from the journal alone
                print(f"note: image set {p.image_set_id}: continuing its replacement from the journal (its primary "
                      "image set was deleted); the steps already done are not sent again", file=streams.err)
        if args.format == "text" or not args.auto_approve:
            shown.write(ctx.text_reporter(shown).plan(plan))
        if not plan.has_changes and not plan.has_errors:  # nothing to send: no prompt, no journal
            if args.format == "json":
                unchanged = tuple(ImageSetResult(p.datastore_id, p.image_set_id, "unchanged", p.version_id,
                                                 final_version=p.version_id) for p in plan.image_sets)
                streams.out.write(ctx.reporter.apply(ApplyReport(unchanged, cost=run_cost(ctx, plan))))
            else:
                print(cost_line(run_cost(ctx, plan)), file=streams.out)
            if state is not None:
                save_state(ctx, state, plan)
            return 0
        if not confirm(streams, args.auto_approve, "apply", ask=True, prompt_on_out=args.format == "text"):
            print("Apply cancelled.", file=streams.err)
            return 1
    return _execute(ctx, session, plan, state, saved=planfile is not None)


def _session(ctx: Context) -> ApplySession:
    err = ctx.streams.err
    return ApplySession(ctx.storage, journal=ctx.args.journal, progress_to=err,
                        live=ctx.streams.err_is_tty(), say=lambda line: print(line, file=err),
                        warn=lambda message: print(f"warning: {message}", file=err), guard=stop_on_signals)


def _execute(ctx: Context, session: ApplySession, plan: Plan, state: StateRun | None, *, saved: bool) -> int:
    args, streams = ctx.args, ctx.streams
    options = ApplyOptions(parallelism=ctx.options.parallelism, wait=WaitPolicy(timeout=args.wait_timeout),
                           drain_timeout=args.drain_timeout)
    result = session.run(ctx.api, plan, options)
    report = dataclasses.replace(result.report, cost=run_cost(ctx, None if saved else plan),
                                 pacing=ctx.api.pacing())
    streams.out.write(ctx.reporter.apply(report))
    if state is not None:
        save_state(ctx, state, plan, _verified(report), saved_plan=saved, replaced=_replaced(report))
    if result.not_uploaded is not None:
        print(f"error: the journal was not uploaded to {session.s3_prefix}: {result.not_uploaded}; it is kept at "
              f"{session.journal} (upload it by hand, e.g. `aws s3 cp`, so that a re-run elsewhere can read it)",
              file=streams.err)
        return report.exit_code or 1
    return report.exit_code


def _verified(report: ApplyReport) -> dict[tuple[str, str], str | None]:
    """Per image set the apply ran: the version verified in sync (of its replacement, for one replaced), or None
    (its state entry goes)."""
    out: dict[tuple[str, str], str | None] = {}
    for r in report.results:
        if r.status == "converged":
            out[(r.datastore_id, r.image_set_id)] = r.final_version
        elif r.status == "unchanged":
            out[(r.datastore_id, r.image_set_id)] = r.final_version or r.planned_version
        elif r.status != "not_started":  # stale, failed, unfinished: not known to be in sync
            out[(r.datastore_id, r.image_set_id)] = None
    return out


def _replaced(report: ApplyReport) -> dict[tuple[str, str], str]:
    """The image sets the apply replaced, each with the ID of its new primary image set."""
    return {(r.datastore_id, r.image_set_id): r.replaced_by for r in report.results
            if r.status == "converged" and r.replaced_by is not None}


def _read_saved(ctx: Context, path: str) -> Plan:
    """A saved plan (local or S3, its digests checked). Without backend options, the run uses the backend the
    plan recorded (set here, before the client is made)."""
    plan, etag = load_plan(path, ctx.storage)
    if etag is not None:
        print(f"Read the saved plan {path} (ETag {etag}, digest checked).", file=ctx.streams.err)
    _use_recorded_backend(ctx, plan, path)
    return plan


def _use_recorded_backend(ctx: Context, plan: Plan, path: str) -> None:
    args, b = ctx.args, plan.backend
    if b is None or any((args.local, args.endpoint_url, args.region, args.profile)):
        return  # check_backend refuses a plan without one, or made against another backend than the options'
    if b.kind == "local":
        try:
            require_store(b.location)
        except UsageError:
            raise UsageError(f"{path}: the plan was made against {b.describe()}, and there is no store there; "
                             "nothing was sent", hint=f"apply it where that store is ({backend_options(b)}), or "
                             "plan again against the store you have") from None
        args.local = b.location
    elif b.kind == "endpoint":
        args.endpoint_url, args.region = b.location, b.region
    else:
        args.region = b.location  # the credentials must be of its account: check_backend says so otherwise
    print(f"note: no backend options given: applying against {b.describe()}, which the plan recorded",
          file=ctx.streams.err)


def _checked(ctx: Context, plan: Plan, path: str) -> Plan:
    """PLAN, made against the backend of this run and from the spec files that are here: a plan made against
    another backend (store, endpoint, account or region), or whose spec files changed, is refused before
    anything is sent."""
    check_backend(plan, ctx.api.backend_identity(), path)
    for note in check_specs(plan, path):  # an edited, removed or new spec file refuses it (exit 1)
        print(f"note: {note}", file=ctx.streams.err)
    return plan

