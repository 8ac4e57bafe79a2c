"""`reconciler validate`: check spec files offline: YAML, schema and DICOM rules"""

from __future__ import annotations

import argparse
from typing import Any

from reconciler.commands import SUMMARIES
from reconciler.commands._common import Context
from reconciler.spec import expand_paths, validate_paths


def register(sub: Any) -> None:
    help_text = SUMMARIES["validate"]
    p: argparse.ArgumentParser = sub.add_parser("validate", help=help_text, description=help_text)
    p.add_argument("paths", nargs="+", metavar="PATH", help="spec files or folders (*.yaml, *.yml)")
    p.add_argument("--format", choices=["text", "json"], default="text",
                   help="output format (default text: FILE:LINE:COLUMN: PATH: message; json: a list of findings)")
    p.set_defaults(func=run)


def run(ctx: Context) -> int:
    """Print every finding (text: ``FILE:LINE:COLUMN: PATH: message``, then a count; or JSON)."""
    diags = validate_paths(ctx.args.paths)
    files = len(expand_paths(ctx.args.paths)[0])
    ctx.streams.out.write(ctx.reporter.validation(diags, files))
    return 1 if any(d.severity == "error" for d in diags) else 0
