"""`reconciler validate`: check spec files offline: YAML, schema and DICOM rules"""

from __future__ import annotations

import argparse
from typing import Any

from reconciler.commands._common import Streams, add_backend_options, add_rate_options
from reconciler.errors import ReconcilerError


def register(sub: Any) -> None:
    p: argparse.ArgumentParser = sub.add_parser("validate", help="check spec files offline: YAML, schema and DICOM rules", description="check spec files offline: YAML, schema and DICOM rules")
    p.add_argument("paths", nargs="+", metavar="PATH", help="spec files or folders (*.yaml, *.yml)")
    p.add_argument("--format", choices=["text", "json"], default="text")
    p.set_defaults(func=run)


def run(args: argparse.Namespace, streams: Streams) -> int:
    raise ReconcilerError("validate is not implemented yet")
