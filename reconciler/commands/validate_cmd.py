"""`reconciler validate`: check spec files offline: YAML, schema and DICOM rules"""

from __future__ import annotations

import argparse
from typing import Any

from reconciler.commands._common import Streams
from reconciler.errors import ReconcilerError


def register(sub: Any) -> None:
    help_text = "check spec files offline: YAML, schema and DICOM rules"
    p: argparse.ArgumentParser = sub.add_parser("validate", help=help_text, description=help_text)
    p.add_argument("paths", nargs="+", metavar="PATH", help="spec files or folders (*.yaml, *.yml)")
    p.add_argument("--format", choices=["text", "json"], default="text")
    p.set_defaults(func=run)


def run(args: argparse.Namespace, streams: Streams) -> int:
    raise ReconcilerError("validate is not implemented yet")
