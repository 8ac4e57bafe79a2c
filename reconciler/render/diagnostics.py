"""Spec findings as the user sees them: ``validate``'s report (text or JSON), and the findings that stop
``plan`` and ``apply`` before anything is read. Files, lines and paths only, never attribute values."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from reconciler.plan.model import Plan
from reconciler.render.warnings import warning_lines
from reconciler.spec.model import Diagnostic


def diagnostic_json(d: Diagnostic) -> dict[str, Any]:
    return {"file": d.file, "line": d.line, "column": d.column, "path": list(d.path),
            "message": d.message, "severity": d.severity}


def validate_lines(diags: Sequence[Diagnostic], files: int) -> list[str]:
    """``FILE:LINE:COLUMN: PATH: message`` per finding, then the count over FILES spec files."""
    return [d.render() for d in diags] + [validate_summary(diags, files)]


def validate_summary(diags: Sequence[Diagnostic], files: int) -> str:
    errors = sum(d.severity == "error" for d in diags)
    warnings = len(diags) - errors
    noun = "file" if files == 1 else "files"
    if errors:
        return f"{errors} error(s), {warnings} warning(s) in {files} {noun}: invalid"
    return f"{files} {noun} valid" + (f", {warnings} warning(s)" if warnings else "")


def spec_findings(diags: Sequence[Diagnostic]) -> list[str]:
    """What plan, drift and apply print on stderr before planning: every error as ``validate`` prints it,
    then each kind of warning once (an imported spec warns about every UID; ``validate`` lists each)."""
    return [d.render() for d in diags if d.severity == "error"] + warning_lines(diags)


def plan_notes(plan: Plan) -> list[str]:
    """What the planner noted while resolving targets (e.g. an empty selector that is allowed)."""
    return ([f"note: {note}" for note in plan.run.notes]
            + [f"warning: {warning}" for warning in plan.run.warnings])
