"""`reconciler plan`: show what apply would change, without changing anything"""

from __future__ import annotations

import argparse
import dataclasses
from typing import Any

from reconciler.commands import SUMMARIES
from reconciler.commands._common import (
    Context,
    add_backend_options,
    add_blob_limit_option,
    add_phi_options,
    add_rate_options,
    add_targeting_options,
    plan_specs,
)
from reconciler.commands._state import add_state_options, open_state, run_cost, save_state
from reconciler.persist import is_s3, split_s3
from reconciler.plan.binding import bind
from reconciler.plan.model import Plan
from reconciler.plan.planfile import save_plan
from reconciler.render.json_out import plan_fingerprints


def register(sub: Any) -> None:
    p: argparse.ArgumentParser = sub.add_parser(
        "plan",
        help=SUMMARIES["plan"],
        description="Read live metadata, compare it with the specs and show the UpdateImageSetMetadata "
        "requests that would make live match. Exit 0 on success, 1 on error, 2 with --detailed-exitcode "
        "when changes are pending.",
    )
    p.add_argument("paths", nargs="+", metavar="PATH", help="spec files or folders")
    p.add_argument("--out", metavar="PLANFILE",
                   help="save the plan: a local file (mode 0600) or s3://BUCKET/KEY (server-side encrypted; "
                   "RECONCILER_S3_SSE=AES256|aws:kms)")
    p.add_argument("--format", choices=["text", "json", "markdown"], default="text",
                   help="output format (default text; json as schemas/plan.schema.json; markdown for a pull-request "
                   "comment)")
    p.add_argument("--detailed-exitcode", action="store_true", help="exit 2 when changes are pending")
    add_phi_options(p)
    add_targeting_options(p)
    add_blob_limit_option(p)
    add_state_options(p)
    add_backend_options(p)
    add_rate_options(p)
    p.set_defaults(func=run)


def run(ctx: Context) -> int:
    args, streams = ctx.args, ctx.streams
    if is_s3(args.out):
        split_s3(args.out)  # a bad URL fails before anything is read
    incremental, state = open_state(ctx)
    specs = bind(args.paths)  # before they are read: a file edited meanwhile then fails apply's check
    plan = plan_specs(ctx, progress=True, incremental=incremental)
    plan = dataclasses.replace(plan, specs=specs)
    if state is not None:
        plan = dataclasses.replace(plan, state=state.info(plan))
    plan = dataclasses.replace(plan, cost=run_cost(ctx, plan))  # kept in a saved plan: `show` prints it too
    streams.out.write(ctx.reporter.plan(plan))
    streams.out.flush()
    if state is not None:
        save_state(ctx, state, plan)
    if args.out:
        if plan.has_errors:
            print(f"error: the plan was not saved to {args.out}: some image sets have errors", file=streams.err)
        else:
            _save(ctx, plan, args.out)
    if plan.has_errors:
        return 1
    return 2 if args.detailed_exitcode and plan.has_changes else 0


def _save(ctx: Context, plan: Plan, out: str) -> None:
    """Save the plan with the backend it was made against (for real AWS: one STS call, made only here) and
    the fingerprints its values were shown with, so that `show` and `apply` print the same ones."""
    saved = dataclasses.replace(plan, backend=ctx.api.backend_identity(),
                                fingerprints=plan_fingerprints(plan, ctx.redactor))
    etag = save_plan(saved, out, ctx.storage)
    where = f"{out} (ETag {etag})" if etag is not None else out
    print(f"Saved the plan to {where}; apply it with `reconciler apply {out}`.", file=ctx.streams.err)
