"""`reconciler revert`: restore an earlier version of an image set (as a new version)"""

from __future__ import annotations

import argparse
from typing import Any

from reconciler.commands._common import Streams, add_backend_options, add_rate_options
from reconciler.errors import ReconcilerError


def register(sub: Any) -> None:
    help_text = "restore an earlier version of an image set (as a new version)"
    p: argparse.ArgumentParser = sub.add_parser("revert", help=help_text, description=help_text)
    p.add_argument("--datastore-id", required=True, metavar="D")
    p.add_argument("--image-set-id", required=True, metavar="I")
    p.add_argument("--to-version", required=True, metavar="N")
    p.add_argument("--auto-approve", action="store_true", help="do not ask for confirmation")
    add_backend_options(p)
    add_rate_options(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace, streams: Streams) -> int:
    raise ReconcilerError("revert is not implemented yet")
