"""`reconciler apply`: apply a saved plan, or plan and apply specs, with version guards"""

from __future__ import annotations

import argparse
import dataclasses
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from reconciler.api import HealthImagingAPI
from reconciler.apply.cancel import Cancellation
from reconciler.apply.executor import ApplyOptions, Executor
from reconciler.apply.journal import Journal, default_journal_path
from reconciler.apply.ledger import STEPS, Ledger, default_folders
from reconciler.apply.progress import Progress
from reconciler.apply.report import ApplyReport, ImageSetResult
from reconciler.apply.resume import locate_copies, resume_plan
from reconciler.apply.s3journal import StepUploader, read_journals
from reconciler.apply.waiter import WaitPolicy
from reconciler.client.storage import is_s3, split_s3, upload_file
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
    stop_on_signals,
)
from reconciler.commands._state import StateRun, add_state_options, open_state, run_cost, save_state
from reconciler.errors import ReconcilerError, UsageError
from reconciler.plan.model import Plan
from reconciler.plan.planfile import check_backend, load_plan
from reconciler.render.common import cost_line

_SPEC_SUFFIXES = (".yaml", ".yml")


def register(sub: Any) -> None:
    p: argparse.ArgumentParser = sub.add_parser(
        "apply",
        help="apply a saved plan, or plan and apply specs, with version guards",
        description="Apply a saved plan (as saved, without asking), or plan spec files/folders and apply "
        "after confirmation. Every request is guarded by the version the plan read; each image set is "
        "waited for, verified, and journalled. Exit 0 converged, 1 any failure, 3 stale only. "
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
    if is_s3(args.journal):
        split_s3(args.journal, prefix=True)  # a bad URL fails before anything is sent
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
    local_journal = default_journal_path() if is_s3(args.journal) or not args.journal else Path(args.journal)
    ledger = Ledger(default_folders(local_journal),  # replacements a crash left half-way
                    remote=_remote_journals(ctx, args.journal) if is_s3(args.journal) else None)
    if planfile is not None:
        plan = _load_saved(ctx, planfile)  # a tampered plan, or one for another backend, raises here
        ctx.redactor.learn(plan.fingerprints)  # its values as the plan showed them (the PR comment's)
        shown.write(ctx.text_reporter(shown).plan(plan))
        _incremental, state = open_state(ctx)  # a state for another backend, too
    else:
        confirm(streams, args.auto_approve, "apply")
        incremental, state = open_state(ctx)
        plan = plan_specs(ctx, incremental=incremental)  # with the client the apply will use (one limiter)
        plan = resume_plan(plan, locate_copies(ctx.api, ledger.unfinished()))
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
    return _execute(ctx, ctx.api, plan, state, saved=planfile is not None, journal=local_journal, ledger=ledger)


def _execute(ctx: Context, api: HealthImagingAPI, plan: Plan, state: StateRun | None, *, saved: bool,
             journal: Path, ledger: Ledger) -> int:
    args, streams = ctx.args, ctx.streams
    options = ApplyOptions(parallelism=ctx.options.parallelism, wait=WaitPolicy(timeout=args.wait_timeout),
                           drain_timeout=args.drain_timeout)
    progress = Progress(streams.err, live=streams.err_is_tty())
    s3_prefix = args.journal if is_s3(args.journal) else None
    local_journal = journal
    cancel = Cancellation()
    # a kill -9 mid-replacement leaves S3 holding its steps: a re-run on another runner finishes it
    on_record = StepUploader(local_journal, s3_prefix, _warner(ctx), frozenset(STEPS)) if s3_prefix else None
    not_uploaded: str | None = None
    try:
        with Journal(local_journal, on_record=on_record) as journal_file, stop_on_signals(cancel):
            report = Executor(api, journal_file, options=options, observer=progress, cancel=cancel,
                              ledger=ledger).run(plan)
    finally:
        progress.close()  # the summary or an error starts on a line of its own
        if s3_prefix and local_journal.exists():  # also after a failure or an interrupt: CI keeps the record
            try:
                print(f"Journal uploaded to {upload_file(local_journal, s3_prefix)}", file=streams.err)
            except ReconcilerError as exc:  # what was applied is still reported; the journal stays on disk
                not_uploaded = str(exc)
    report = dataclasses.replace(report, cost=run_cost(ctx, None if saved else plan), pacing=ctx.api.pacing())
    streams.out.write(ctx.reporter.apply(report))
    if state is not None:
        save_state(ctx, state, plan, _verified(report), saved_plan=saved)
    if not_uploaded is not None:
        print(f"error: the journal was not uploaded to {s3_prefix}: {not_uploaded}; it is kept at {local_journal} "
              "(upload it by hand, e.g. `aws s3 cp`, so that a re-run elsewhere can read it)", file=streams.err)
        return report.exit_code or 1
    return report.exit_code


def _warner(ctx: Context) -> Callable[[str], None]:
    def warn(message: str) -> None:
        print(f"warning: {message}", file=ctx.streams.err)

    return warn


def _remote_journals(ctx: Context, prefix_url: str) -> Callable[[frozenset[str]], list[tuple[str, str]]]:
    """The Ledger's reader of the journals under the S3 prefix (those not also in the local folders)."""
    return lambda local: read_journals(prefix_url, _warner(ctx), skip=local)


def _verified(report: ApplyReport) -> dict[tuple[str, str], str | None]:
    """Per image set the apply ran: the version verified in sync, or None (its state entry goes)."""
    out: dict[tuple[str, str], str | None] = {}
    for r in report.results:
        if r.status == "converged" and r.replaced_by is not None:  # the original is gone; the new one is in sync
            out[(r.datastore_id, r.image_set_id)] = None
            out[(r.datastore_id, r.replaced_by)] = r.final_version
        elif r.status == "converged":
            out[(r.datastore_id, r.image_set_id)] = r.final_version
        elif r.status == "unchanged":
            out[(r.datastore_id, r.image_set_id)] = r.final_version or r.planned_version
        elif r.status != "not_started":  # stale, failed, unfinished: not known to be in sync
            out[(r.datastore_id, r.image_set_id)] = None
    return out


def _load_saved(ctx: Context, path: str) -> Plan:
    """A saved plan (local or S3, its digests checked), made against the backend of this run: a plan made
    against another backend (store, endpoint, account or region) is refused before anything is sent."""
    plan = load_plan(path)
    if "etag" in plan.meta:
        print(f"Read the saved plan {path} (ETag {plan.meta['etag']}, digest checked).", file=ctx.streams.err)
    check_backend(plan, ctx.api.backend_identity(), path)
    return plan

