"""`reconciler plan`: show what apply would change, without changing anything"""

from __future__ import annotations

import argparse
import json
from typing import Any

from reconciler.api import HealthImagingAPI
from reconciler.commands._common import (
    Streams,
    add_backend_options,
    add_rate_options,
    api_from_args,
    backend_from_args,
)
from reconciler.plan.build import Progress, build_plan
from reconciler.plan.model import Plan
from reconciler.plan.planfile import plan_to_dict, save_plan
from reconciler.plan.targets import TargetError
from reconciler.ratelimit import parse_rates
from reconciler.render.common import DEFAULT_UPDATE_RATE
from reconciler.render.json_out import render_json
from reconciler.render.markdown import render_markdown
from reconciler.render.redact import Redactor
from reconciler.render.text import render_text
from reconciler.spec.grouping import warning_lines
from reconciler.spec.model import SpecDocument
from reconciler.storage import is_s3, split_s3
from reconciler.storage import put as storage_put


def register(sub: Any) -> None:
    p: argparse.ArgumentParser = sub.add_parser(
        "plan",
        help="show what apply would change, without changing anything",
        description="Read live metadata, compare it with the specs and show the UpdateImageSetMetadata "
        "requests that would make live match. Exit 0 on success, 1 on error, 2 with --detailed-exitcode "
        "when changes are pending.",
    )
    p.add_argument("paths", nargs="+", metavar="PATH", help="spec files or folders")
    p.add_argument("--out", metavar="PLANFILE",
                   help="save the plan: a local file (mode 0600) or s3://BUCKET/KEY (server-side encrypted; "
                   "RECONCILER_S3_SSE=AES256|aws:kms)")
    p.add_argument("--format", choices=["text", "json", "markdown"], default="text")
    p.add_argument("--detailed-exitcode", action="store_true", help="exit 2 when changes are pending")
    p.add_argument("--show-phi", action="store_true", help="show patient-identifying values (local use only)")
    add_backend_options(p)
    add_rate_options(p)
    p.set_defaults(func=run)


def load_specs_or_report(paths: list[str], streams: Streams) -> list[SpecDocument] | None:
    """Load the specs; print diagnostics like `validate` does. None when any is an error."""
    from reconciler.spec import load_specs

    docs, diagnostics = load_specs(paths)
    for d in diagnostics:
        if d.severity == "error":
            print(d.render(), file=streams.err)
    for line in warning_lines(diagnostics):  # each kind once: an imported spec warns about every UID
        print(line, file=streams.err)
    if any(d.severity == "error" for d in diagnostics):
        errors = sum(d.severity == "error" for d in diagnostics)
        print(f"error: the specs are invalid ({errors} error{'s' if errors != 1 else ''}); nothing was read",
              file=streams.err)
        return None
    return list(docs)


def plan_from_args(args: argparse.Namespace, streams: Streams) -> Plan | None:
    """Load specs and build the plan against the chosen backend; None (reported) on spec errors."""
    docs = load_specs_or_report(list(args.paths), streams)
    if docs is None:
        return None
    options = backend_from_args(args)
    api = api_from_args(args)
    progress = _progress(streams) if streams.err is not None and streams.err_is_tty() else None
    return build_or_report(docs, api, streams, parallelism=options.parallelism, progress=progress)


def build_or_report(
    docs: list[SpecDocument], api: HealthImagingAPI, streams: Streams, *, parallelism: int,
    progress: Progress | None = None,
) -> Plan | None:
    """Build the plan; print target errors like spec errors (None: nothing planned) and target notes."""
    try:
        plan = build_plan(docs, api, parallelism=parallelism, progress=progress)
    except TargetError as exc:
        for d in exc.diagnostics:
            print(d.render(), file=streams.err)
        errors = len(exc.diagnostics)
        print(f"error: the spec targets do not hold ({errors} error{'s' if errors != 1 else ''}); "
              "nothing was planned or written", file=streams.err)
        return None
    for note in plan.meta.get("notes", ()):
        print(f"note: {note}", file=streams.err)
    return plan


def render(plan: Plan, args: argparse.Namespace, streams: Streams, *, drift: bool = False) -> str:
    redactor = Redactor(show_phi=bool(args.show_phi))
    rate = parse_rates(list(args.rate or [])).get("UpdateImageSetMetadata", DEFAULT_UPDATE_RATE)
    if args.format == "json":
        return render_json(plan, redactor)
    if args.format == "markdown":
        return render_markdown(plan, redactor, rate=rate, drift=drift)
    return render_text(plan, redactor, colour=streams.out_is_tty(), rate=rate, drift=drift)


def run(args: argparse.Namespace, streams: Streams) -> int:
    if is_s3(args.out):
        split_s3(args.out)  # a bad URL fails before anything is read
    plan = plan_from_args(args, streams)
    if plan is None:
        return 1
    streams.out.write(render(plan, args, streams))
    streams.out.flush()
    if args.out:
        if plan.has_errors:
            print(f"error: the plan was not saved to {args.out}: some image sets have errors", file=streams.err)
        else:
            _save(plan, args.out, streams)
    if plan.has_errors:
        return 1
    return 2 if args.detailed_exitcode and plan.has_changes else 0


def _save(plan: Plan, out: str, streams: Streams) -> None:
    """Write the saved plan to a local file (0600) or an S3 object (encrypted, digest in metadata)."""
    if is_s3(out):
        data = json.dumps(plan_to_dict(plan), indent=1, ensure_ascii=False).encode("utf-8")
        etag = storage_put(out, data)
        print(f"Saved the plan to {out} (ETag {etag}); apply it with `reconciler apply {out}`.", file=streams.err)
        return
    save_plan(plan, out)
    print(f"Saved the plan to {out}; apply it with `reconciler apply {out}`.", file=streams.err)


def _progress(streams: Streams) -> Any:
    def report(done: int, total: int) -> None:
        end = "\n" if done == total else ""
        print(f"\rread {done}/{total} image sets", end=end, file=streams.err, flush=True)

    return report
