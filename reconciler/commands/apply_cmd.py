"""`reconciler apply`: apply a saved plan, or plan and apply specs, with version guards"""

from __future__ import annotations

import argparse
from typing import Any

from reconciler.commands._common import Streams, add_backend_options, add_rate_options
from reconciler.errors import ReconcilerError


def register(sub: Any) -> None:
    help_text = "apply a saved plan, or plan and apply specs, with version guards"
    p: argparse.ArgumentParser = sub.add_parser("apply", help=help_text, description=help_text)
    p.add_argument("paths", nargs="+", metavar="PLANFILE|PATH", help="a saved plan, or spec files/folders")
    p.add_argument("--auto-approve", action="store_true", help="do not ask for confirmation")
    p.add_argument("--format", choices=["text", "json"], default="text")
    add_backend_options(p)
    add_rate_options(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace, streams: Streams) -> int:
    raise ReconcilerError("apply is not implemented yet")
