"""`reconciler plan`: show what apply would change, without changing anything"""

from __future__ import annotations

import argparse
import json
from typing import Any

from reconciler.client.storage import is_s3, split_s3
from reconciler.client.storage import put as storage_put
from reconciler.commands._common import Context, Streams, add_backend_options, add_rate_options, plan_specs
from reconciler.plan.model import Plan
from reconciler.plan.planfile import plan_to_dict, save_plan


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


def run(ctx: Context) -> int:
    args, streams = ctx.args, ctx.streams
    if is_s3(args.out):
        split_s3(args.out)  # a bad URL fails before anything is read
    plan = plan_specs(ctx, progress=True)
    if plan is None:
        return 1
    streams.out.write(ctx.reporter.plan(plan))
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

