"""The plan as text, like ``terraform plan``: one block per image set to change, a summary line, and
the time apply needs under the UpdateImageSetMetadata quota. Colour only on a terminal."""

from __future__ import annotations

from reconciler.plan.build import blocks
from reconciler.plan.model import ImageSetPlan, Plan
from reconciler.render.common import (
    DEFAULT_UPDATE_RATE,
    change_line,
    cost_line,
    error_lines,
    eta_line,
    membership_lines,
    move_line,
    plural,
    study_lines,
    summarize,
    unread_lines,
)
from reconciler.render.redact import Redactor
from reconciler.render.targeting import targeting_lines

_COLOURS = {"+": "\033[32m", "~": "\033[33m", "-": "\033[31m", "!": "\033[1;31m"}
_RESET = "\033[0m"


def _paint(line: str, colour: bool) -> str:
    stripped = line.lstrip()
    if not colour or not stripped or stripped[0] not in _COLOURS:
        return line
    return f"{_COLOURS[stripped[0]]}{line}{_RESET}"


def image_set_block(isp: ImageSetPlan, redactor: Redactor) -> list[str]:
    """The lines for one image set (no colour)."""
    primary = ", primary" if isp.is_primary else ""
    head = (f"# image set {isp.image_set_id} (datastore {isp.datastore_id}, version {isp.version_id or '?'}"
            f"{primary})")
    moved = [f"    {move_line(m, redactor)}" for m in isp.moves]
    if isp.action == "error":
        # one error per line, each once: a change an error line is about is listed without its reason
        lines = [f"{head}: error", *(f"!   {e}" for e in error_lines(isp, redactor))]
        lines += [f"    {change_line(c, redactor, note=not blocks(c))}" for c in isp.changes]
        return lines + moved
    if isp.action == "none":
        return [f"{head}: no changes", *moved]
    force = ", force" if isp.force else ""
    lines = [f"{head}: update, {plural(len(isp.requests), 'request')}{force}"]
    lines += [f"    {line}" for line in study_lines(isp)]
    lines += [f"    {change_line(c, redactor)}" for c in isp.changes]
    return lines + moved


def render_text(
    plan: Plan, redactor: Redactor, *, colour: bool = False, rate: float = DEFAULT_UPDATE_RATE, drift: bool = False,
) -> str:
    """Only image sets that change or fail are listed; unchanged ones are counted in the summary. Selectors
    that lost or gained image sets since the drift state, what was not read and why, and the cost follow."""
    summary = summarize(plan)
    out: list[str] = []
    shown = [p for p in plan.image_sets if p.action != "none"]
    if shown:
        out.append("Drift found: live metadata differs from the specs:" if drift
                   else "The reconciler will perform the following updates:")
        out.append("")
    for isp in shown:
        out += [_paint(f"  {line}", colour) for line in image_set_block(isp, redactor)]
        out.append("")
    if plan.membership:
        out.append("Selectors that lost or gained image sets since the drift state:")
        out += [_paint(f"  {line}", colour) for line in membership_lines(plan)]
        out.append("")
    if not shown and not plan.membership:
        out.append("No changes. Live metadata matches the specs." if not drift else "In sync: no drift.")
    moved = [p for p in plan.image_sets if p.action == "none" and p.moves]
    if moved:  # in sync, under new keys: say so rather than nothing (terraform's "moved")
        out.append("")
        out += [f"  {line}" for p in moved for line in image_set_block(p, redactor)]
        out.append("")
    out.append(summary.line())
    if summary.requests:
        out.append(eta_line(summary.requests, rate))
    out += targeting_lines(plan.targeting)
    out += unread_lines(plan)
    if plan.cost is not None:
        out.append(cost_line(plan.cost))
    return "\n".join(out) + "\n"
