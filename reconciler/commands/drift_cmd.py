"""`reconciler drift`: report where live metadata differs from the specs (exit 2 on drift)"""

from __future__ import annotations

import argparse
from typing import Any

from reconciler.commands._common import Streams, add_backend_options, add_rate_options
from reconciler.errors import ReconcilerError


def register(sub: Any) -> None:
    help_text = "report where live metadata differs from the specs (exit 2 on drift)"
    p: argparse.ArgumentParser = sub.add_parser("drift", help=help_text, description=help_text)
    p.add_argument("paths", nargs="+", metavar="PATH", help="spec files or folders")
    p.add_argument("--format", choices=["text", "json", "markdown"], default="text")
    p.add_argument("--blame", action="store_true", help="name the version that introduced each drifted value")
    p.add_argument("--show-phi", action="store_true", help="show patient-identifying values (local use only)")
    add_backend_options(p)
    add_rate_options(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace, streams: Streams) -> int:
    raise ReconcilerError("drift is not implemented yet")
