"""`reconciler validate`: check spec files offline: YAML, schema and DICOM rules"""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence
from typing import Any

from reconciler.commands._common import Streams
from reconciler.spec import expand_paths, validate_paths
from reconciler.spec.model import Diagnostic


def register(sub: Any) -> None:
    help_text = "check spec files offline: YAML, schema and DICOM rules"
    p: argparse.ArgumentParser = sub.add_parser("validate", help=help_text, description=help_text)
    p.add_argument("paths", nargs="+", metavar="PATH", help="spec files or folders (*.yaml, *.yml)")
    p.add_argument("--format", choices=["text", "json"], default="text")
    p.set_defaults(func=run)


def run(args: argparse.Namespace, streams: Streams) -> int:
    """Print every finding (text: ``FILE:LINE:COLUMN: PATH: message``, then a count; or JSON)."""
    diags = validate_paths(args.paths)
    errors = sum(d.severity == "error" for d in diags)
    if args.format == "json":
        json.dump([_as_json(d) for d in diags], streams.out, indent=2)
        streams.out.write("\n")
    else:
        for d in diags:
            print(d.render(), file=streams.out)
        print(_summary(diags, args.paths), file=streams.out)
    return 1 if errors else 0


def _as_json(d: Diagnostic) -> dict[str, Any]:
    return {"file": d.file, "line": d.line, "column": d.column, "path": list(d.path),
            "message": d.message, "severity": d.severity}


def _summary(diags: Sequence[Diagnostic], paths: Sequence[str]) -> str:
    files = len(expand_paths(paths)[0])
    errors = sum(d.severity == "error" for d in diags)
    warnings = len(diags) - errors
    noun = "file" if files == 1 else "files"
    if errors:
        return f"{errors} error(s), {warnings} warning(s) in {files} {noun}: invalid"
    return f"{files} {noun} valid" + (f", {warnings} warning(s)" if warnings else "")
