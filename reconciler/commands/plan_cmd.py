"""`reconciler plan`: show what apply would change, without changing anything"""

from __future__ import annotations

import argparse
from typing import Any

from reconciler.commands._common import Streams, add_backend_options, add_rate_options
from reconciler.errors import ReconcilerError


def register(sub: Any) -> None:
    help_text = "show what apply would change, without changing anything"
    p: argparse.ArgumentParser = sub.add_parser("plan", help=help_text, description=help_text)
    p.add_argument("paths", nargs="+", metavar="PATH", help="spec files or folders")
    p.add_argument("--out", metavar="PLANFILE", help="save the plan (local path or s3://bucket/key), mode 0600")
    p.add_argument("--format", choices=["text", "json", "markdown"], default="text")
    p.add_argument("--detailed-exitcode", action="store_true", help="exit 2 when changes are pending")
    p.add_argument("--show-phi", action="store_true", help="show patient-identifying values (local use only)")
    add_backend_options(p)
    add_rate_options(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace, streams: Streams) -> int:
    raise ReconcilerError("plan is not implemented yet")
