"""`reconciler drift`: report where live metadata differs from the specs (exit 2 on drift)"""

from __future__ import annotations

import argparse
import json
from typing import Any

from reconciler.commands._common import Streams, add_backend_options, add_rate_options, api_from_args
from reconciler.commands.plan_cmd import plan_from_args, render
from reconciler.plan.model import Plan
from reconciler.ratelimit import parse_rates
from reconciler.render.common import DEFAULT_UPDATE_RATE
from reconciler.render.markdown import LIMIT, render_markdown
from reconciler.render.redact import Redactor


def register(sub: Any) -> None:
    p: argparse.ArgumentParser = sub.add_parser(
        "drift",
        help="report where live metadata differs from the specs (exit 2 on drift)",
        description="A read-only plan: exit 0 when live matches the specs, 2 when it drifted, 1 on error.",
    )
    p.add_argument("paths", nargs="+", metavar="PATH", help="spec files or folders")
    p.add_argument("--format", choices=["text", "json", "markdown"], default="text")
    p.add_argument("--blame", action="store_true",
                   help="name the version that introduced each drifted value (text and JSON; bisects the "
                   "image set's versions: about 2 x log2(versions) metadata reads per drifted image set)")
    p.add_argument("--show-phi", action="store_true", help="show patient-identifying values (local use only)")
    add_backend_options(p)
    add_rate_options(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace, streams: Streams) -> int:
    plan = plan_from_args(args, streams)
    if plan is None:
        return 1
    if args.blame and any(p.changes for p in plan.image_sets):
        streams.out.write(_with_blame(plan, args, streams))
    else:
        streams.out.write(render(plan, args, streams, drift=True))
    if plan.has_errors:
        return 1
    return 2 if plan.has_changes else 0


def _with_blame(plan: Plan, args: argparse.Namespace, streams: Streams) -> str:
    """The drift report with, per drifted attribute, the version that introduced the live value."""
    from reconciler.plan.blame import blame_json, blame_plan, blame_text

    blames = blame_plan(plan, api_from_args(args))
    if args.format == "json":
        doc = json.loads(render(plan, args, streams, drift=True))
        return json.dumps(blame_json(doc, blames), indent=2, ensure_ascii=False) + "\n"
    if args.format == "markdown":  # the blame section counts against the comment's size limit
        section = blame_text(blames, plan, markdown=True)
        rate = parse_rates(list(args.rate or [])).get("UpdateImageSetMetadata", DEFAULT_UPDATE_RATE)
        return render_markdown(plan, Redactor(show_phi=bool(args.show_phi)), rate=rate,
                               limit=LIMIT - len(section), drift=True) + section
    return render(plan, args, streams, drift=True) + blame_text(blames, plan)
