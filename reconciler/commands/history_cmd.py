"""`reconciler history`: list an image set's versions, newest first"""

from __future__ import annotations

import argparse
from typing import Any

from reconciler.commands._common import Streams, add_backend_options, add_rate_options
from reconciler.errors import ReconcilerError


def register(sub: Any) -> None:
    help_text = "list an image set's versions, newest first"
    p: argparse.ArgumentParser = sub.add_parser("history", help=help_text, description=help_text)
    p.add_argument("--datastore-id", required=True, metavar="D")
    p.add_argument("--image-set-id", required=True, metavar="I")
    p.add_argument("--format", choices=["text", "json"], default="text")
    add_backend_options(p)
    add_rate_options(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace, streams: Streams) -> int:
    raise ReconcilerError("history is not implemented yet")
