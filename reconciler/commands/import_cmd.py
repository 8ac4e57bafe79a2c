"""`reconciler import`: write a spec from live metadata (adopt an existing image set)"""

from __future__ import annotations

import argparse
from typing import Any

from reconciler.commands._common import Streams, add_backend_options, add_rate_options
from reconciler.errors import ReconcilerError


def register(sub: Any) -> None:
    help_text = "write a spec from live metadata (adopt an existing image set)"
    p: argparse.ArgumentParser = sub.add_parser("import", help=help_text, description=help_text)
    p.add_argument("--datastore-id", required=True, metavar="D")
    target = p.add_mutually_exclusive_group(required=True)
    target.add_argument("--image-set-id", metavar="I")
    target.add_argument("--select", metavar="KEY=VALUE", help="a SearchImageSets equality key, e.g. DICOMPatientId=P1")
    p.add_argument("--levels", default="patient,study,series,instance", help="which levels to include")
    p.add_argument("--out", metavar="DIR", help="write one file per image set into DIR (default: stdout)")
    add_backend_options(p)
    add_rate_options(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace, streams: Streams) -> int:
    raise ReconcilerError("import is not implemented yet")
