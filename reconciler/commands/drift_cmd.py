"""`reconciler drift`: report where live metadata differs from the specs (exit 2 on drift)"""

from __future__ import annotations

import argparse
import dataclasses
from typing import Any

from reconciler.commands import SUMMARIES
from reconciler.commands._common import (
    Context,
    add_backend_options,
    add_phi_options,
    add_rate_options,
    add_targeting_options,
    plan_specs,
)
from reconciler.commands._state import add_state_options, open_state, run_cost, save_state


def register(sub: Any) -> None:
    p: argparse.ArgumentParser = sub.add_parser(
        "drift",
        help=SUMMARIES["drift"],
        description="A read-only plan: exit 0 when live matches the specs, 2 when it drifted, 1 on error.",
    )
    p.add_argument("paths", nargs="+", metavar="PATH", help="spec files or folders")
    p.add_argument("--format", choices=["text", "json", "markdown"], default="text",
                   help="output format (default text; json as schemas/plan.schema.json; markdown for a pull-request "
                   "comment or an issue)")
    p.add_argument("--blame", action="store_true",
                   help="name the version that introduced each drifted value (in every --format: text, json and "
                   "markdown; bisects the image set's versions: about 2 x log2(versions) metadata reads per drifted "
                   "image set)")
    add_phi_options(p)
    add_targeting_options(p)
    add_state_options(p, drift=True)
    add_backend_options(p)
    add_rate_options(p)
    p.set_defaults(func=run)


def run(ctx: Context) -> int:
    incremental, state = open_state(ctx)
    plan = plan_specs(ctx, progress=True, incremental=incremental)
    blames = None
    if ctx.args.blame and any(p.changes for p in plan.image_sets):
        from reconciler.plan.blame import blame_plan

        blames = blame_plan(plan, ctx.api)  # the same client, so the same limiter, as the plan
    if state is not None:
        plan = dataclasses.replace(plan, state=state.info(plan))
    plan = dataclasses.replace(plan, cost=run_cost(ctx, plan))  # after --blame: its reads count too
    ctx.streams.out.write(ctx.reporter.plan(plan, drift=True, blames=blames))
    ctx.streams.out.flush()
    if state is not None:
        save_state(ctx, state, plan)
    if plan.has_errors:
        return 1
    return 2 if plan.has_drift else 0
