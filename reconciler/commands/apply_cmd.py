"""`reconciler apply`: apply a saved plan, or plan and apply specs, with version guards"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path
from typing import Any, TextIO

from reconciler.api import HealthImagingAPI
from reconciler.apply.cancel import Cancellation
from reconciler.apply.executor import ApplyOptions, Executor
from reconciler.apply.journal import Journal, default_journal_path
from reconciler.apply.progress import Progress
from reconciler.apply.report import ApplyReport, ImageSetResult
from reconciler.apply.waiter import WaitPolicy
from reconciler.commands._common import (
    Streams,
    add_backend_options,
    add_rate_options,
    api_from_args,
    isatty,
)
from reconciler.commands._signals import stop_on_signals
from reconciler.commands.plan_cmd import build_or_report, load_specs_or_report
from reconciler.errors import PlanFileError, UsageError
from reconciler.plan.model import Plan
from reconciler.plan.planfile import load_plan, plan_from_dict
from reconciler.ratelimit import parse_rates
from reconciler.render.common import DEFAULT_UPDATE_RATE
from reconciler.render.redact import Redactor
from reconciler.render.text import render_text
from reconciler.storage import get as storage_get
from reconciler.storage import is_s3, split_s3, upload_file

PROMPT = "Do you want to perform these actions? Only 'yes' will be accepted."
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
    p.add_argument("--format", choices=["text", "json"], default="text")
    p.add_argument(
        "--journal",
        metavar="PATH",
        help="write the apply journal (JSON lines, mode 0600) to PATH "
        "(default: .reconciler/journal/apply-<UTC time>-<pid>.jsonl); with s3://BUCKET/PREFIX/ it is "
        "written to that default local path and uploaded under the prefix when apply ends",
    )
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
    add_backend_options(p)
    add_rate_options(p)
    p.set_defaults(func=run)


def add_wait_option(p: argparse.ArgumentParser) -> None:
    """How long one update may keep an image set LOCKED before it is reported failed."""
    p.add_argument(
        "--wait-timeout",
        metavar="SECONDS",
        type=float,
        default=900.0,
        help="give up waiting for one update to leave LOCKED after this long (default 900)",
    )


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


def saved_plan_path(paths: list[str]) -> str | None:
    """The PLANFILE when the arguments are one saved plan (an s3:// URL, or a file that is not YAML)."""
    if len(paths) != 1:
        return None
    path = paths[0]
    if path.startswith("s3://"):
        return path
    p = Path(path)
    return path if p.is_file() and p.suffix.lower() not in _SPEC_SUFFIXES else None


def run(args: argparse.Namespace, streams: Streams) -> int:
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
    api: HealthImagingAPI
    if planfile is not None:
        plan = _load_saved(planfile, streams)  # a tampered plan raises here: nothing has been sent
        api = api_from_args(args)
    else:
        confirm(streams, args.auto_approve, "apply")
        api = api_from_args(args)
        planned = _plan_specs(args, streams, api)
        if planned is None:
            return 1
        plan = planned
        # JSON output stays one document on stdout: the plan (and the prompt) then go to stderr
        shown = streams.out if args.format == "text" else streams.err
        if args.format == "text" or not args.auto_approve:
            _show_plan(plan, shown, parse_rates(args.rate).get("UpdateImageSetMetadata"))
        if not plan.has_changes and not plan.has_errors:  # nothing to send: no prompt, no journal
            if args.format == "json":
                unchanged = tuple(ImageSetResult(p.datastore_id, p.image_set_id, "unchanged", p.version_id,
                                                 final_version=p.version_id) for p in plan.image_sets)
                _write_json(streams, ApplyReport(unchanged).to_json())
            return 0
        if not confirm(streams, args.auto_approve, "apply", ask=True, prompt_on_out=args.format == "text"):
            print("Apply cancelled.", file=streams.err)
            return 1
    return _execute(args, streams, api, plan)


def _execute(args: argparse.Namespace, streams: Streams, api: HealthImagingAPI, plan: Plan) -> int:
    options = ApplyOptions(parallelism=args.parallelism, wait=WaitPolicy(timeout=args.wait_timeout),
                           drain_timeout=args.drain_timeout)
    progress = Progress(streams.err, live=streams.err_is_tty())
    s3_prefix = args.journal if is_s3(args.journal) else None
    local_journal = default_journal_path() if s3_prefix or not args.journal else Path(args.journal)
    cancel = Cancellation()
    try:
        with Journal(local_journal) as journal, stop_on_signals(cancel):
            report = Executor(api, journal, options=options, observer=progress, cancel=cancel).run(plan)
    finally:
        progress.close()  # the summary or an error starts on a line of its own
        if s3_prefix and local_journal.exists():  # also after a failure or an interrupt: CI keeps the record
            print(f"Journal uploaded to {upload_file(local_journal, s3_prefix)}", file=streams.err)
    if args.format == "json":
        _write_json(streams, report.to_json())
    else:
        streams.out.write("\n".join(report.text_lines()) + "\n")
    return report.exit_code


def _write_json(streams: Streams, doc: dict[str, Any]) -> None:
    json.dump(doc, streams.out, indent=2)
    streams.out.write("\n")


def _load_saved(path: str, streams: Streams) -> Plan:
    """A saved plan from a local file or S3 (digest and ETag checked there), then its own digest."""
    if not is_s3(path):
        return load_plan(path)
    body, etag = storage_get(path)
    try:
        raw = json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise PlanFileError(f"{path}: not a saved plan (not JSON)") from None
    plan = plan_from_dict(raw, path)
    print(f"Read the saved plan {path} (ETag {etag}, digest checked).", file=streams.err)
    return plan


def _plan_specs(args: argparse.Namespace, streams: Streams, api: HealthImagingAPI) -> Plan | None:
    """Load and plan the specs with the same client the apply will use (one limiter); None on spec errors."""
    docs = load_specs_or_report(list(args.paths), streams)
    if docs is None:
        return None
    return build_or_report(docs, api, streams, parallelism=args.parallelism)


def _show_plan(plan: Plan, stream: TextIO, rate: float | None) -> None:
    stream.write(render_text(plan, Redactor(), colour=isatty(stream), rate=rate or DEFAULT_UPDATE_RATE))
