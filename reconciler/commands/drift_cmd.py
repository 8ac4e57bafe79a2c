"""`reconciler drift`: report where live metadata differs from the specs (exit 2 on drift)"""

from __future__ import annotations

import argparse
import json
from typing import Any

from reconciler.commands._common import Streams, add_backend_options, add_rate_options, api_from_args
from reconciler.commands.plan_cmd import plan_from_args, render


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
    if args.blame and plan.has_changes:
        from reconciler.blame import blame_json, blame_plan, blame_text

        blames = blame_plan(plan, api_from_args(args))
        if args.format == "json":
            doc = json.loads(render(plan, args, streams, drift=True))
            streams.out.write(json.dumps(blame_json(doc, blames), indent=2, ensure_ascii=False) + "\n")
        else:
            streams.out.write(render(plan, args, streams, drift=True))
            streams.out.write(blame_text(blames, plan, markdown=args.format == "markdown"))
    else:
        streams.out.write(render(plan, args, streams, drift=True))
    if plan.has_errors:
        return 1
    return 2 if plan.has_changes else 0
