"""`reconciler drift`: report where live metadata differs from the specs (exit 2 on drift)"""

from __future__ import annotations

import argparse
from typing import Any

from reconciler.commands._common import Streams, add_backend_options, add_rate_options
from reconciler.commands.plan_cmd import plan_from_args, render
from reconciler.errors import UsageError


def register(sub: Any) -> None:
    p: argparse.ArgumentParser = sub.add_parser(
        "drift",
        help="report where live metadata differs from the specs (exit 2 on drift)",
        description="A read-only plan: exit 0 when live matches the specs, 2 when it drifted, 1 on error.",
    )
    p.add_argument("paths", nargs="+", metavar="PATH", help="spec files or folders")
    p.add_argument("--format", choices=["text", "json", "markdown"], default="text")
    p.add_argument("--blame", action="store_true", help="name the version that introduced each drifted value")
    p.add_argument("--show-phi", action="store_true", help="show patient-identifying values (local use only)")
    add_backend_options(p)
    add_rate_options(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace, streams: Streams) -> int:
    if args.blame:
        raise UsageError("drift --blame is not supported yet", hint="run `reconciler drift` without --blame")
    plan = plan_from_args(args, streams)
    if plan is None:
        return 1
    streams.out.write(render(plan, args, streams, drift=True))
    if plan.has_errors:
        return 1
    return 2 if plan.has_changes else 0
