"""The plan as text, like ``terraform plan``: one block per image set to change (``-/+`` for one that
must be replaced), a summary line, and the time apply needs under the write quotas. Colour only on a
terminal."""

from __future__ import annotations

from reconciler.plan.build import blocks
from reconciler.plan.diff import format_path
from reconciler.plan.model import ImageSetPlan, Plan
from reconciler.render.common import (
    change_line,
    cost_line,
    duration,
    error_lines,
    membership_lines,
    move_line,
    plan_eta,
    plural,
    study_lines,
    summarize,
    unread_lines,
)
from reconciler.render.redact import Redactor
from reconciler.render.replacement import DEFAULT_RATES, NEW_ID, Rates, group_of, seconds, steps, writes
from reconciler.render.targeting import targeting_lines

_COLOURS = {"+": "\033[32m", "~": "\033[33m", "-": "\033[31m", "!": "\033[1;31m"}
_REPLACE = "-/+"
_RESET = "\033[0m"


def _paint(line: str, colour: bool) -> str:
    stripped = line.lstrip()
    if not colour or not stripped or stripped[0] not in _COLOURS:
        return line
    if stripped.startswith(_REPLACE):  # as terraform: the old one goes (red), a new one comes (green)
        rest = stripped[len(_REPLACE):]
        return f"{line[:len(line) - len(stripped)]}\033[31m-\033[0m/\033[32m+\033[0m\033[1m{rest}{_RESET}"
    return f"{_COLOURS[stripped[0]]}{line}{_RESET}"


def replacement_lines(isp: ImageSetPlan, redactor: Redactor, rates: Rates = DEFAULT_RATES) -> list[str]:
    """What replacing ISP does: the ID change, who allowed it and why, the five steps with their writes
    and time, then the changes (made on the copy). No colour, no indent."""
    r = isp.replacement
    lines = [f"{_REPLACE} image set {isp.image_set_id} must be replaced: the image set ID changes to a new one "
             f"({NEW_ID})"]
    if r is not None:
        why = ", ".join(format_path(redactor.path(p)) for p in r.paths) or "(none)"
        lines.append(f"    a primary image set refuses in place: {why}; "
                     f"replace: allow at {', '.join(r.sources) or '(unknown)'}")
    for n, step in enumerate(steps(isp), 1):
        lines.append(f"    {n}. {step.operation}: {step.what} ({plural(step.writes, 'write')}, about "
                     f"{duration(step.seconds(rates))})")
    group = group_of(isp, rates)
    window = "between steps 4 and 5" if group else "between steps 3 and 4"
    lines.append(f"    {plural(writes(isp), 'write')}, about {duration(seconds(isp, rates))} at the configured write "
                 "rates, plus the wait for each copy, update and deletion to finish; "
                 f"{window} its instances are in no primary image set")
    if group is not None:
        lines.append(f"    group: the study's primary image sets {', '.join(group.members)} are replaced together "
                     f"(their Patient-level metadata must agree): {plural(group.writes, 'write')}, about "
                     f"{duration(group.seconds)}; every member is copied and updated, every copy verified, every "
                     f"original deleted, then every copy promoted: no primary image set for about "
                     f"{duration(group.window)} plus the waits; if a promotion fails, the pristine copies are "
                     "promoted back")
    forcing = set(r.paths) if r is not None else set()
    lines += [f"    {change_line(c, redactor, forces=c.path in forcing or c.check == 'refused on primary')}"
              for c in isp.changes]
    return lines


def image_set_block(isp: ImageSetPlan, redactor: Redactor, rates: Rates = DEFAULT_RATES) -> list[str]:
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
    if isp.action == "replace":
        head += f": replace, {plural(writes(isp), 'write')}{', force' if isp.force else ''}"
        return [head, *replacement_lines(isp, redactor, rates), *moved]
    force = ", force" if isp.force else ""
    lines = [f"{head}: update, {plural(len(isp.requests), 'request')}{force}"]
    lines += [f"    {line}" for line in study_lines(isp)]
    lines += [f"    {change_line(c, redactor)}" for c in isp.changes]
    return lines + moved


def retarget_lines(plan: Plan) -> list[str]:
    """``! warning: ...`` for each imageSetId target of an image set the plan replaces."""
    return [f"! warning: {r.message()}" for r in plan.retargets]


def render_text(
    plan: Plan, redactor: Redactor, *, colour: bool = False, rates: Rates = DEFAULT_RATES, drift: bool = False,
) -> str:
    """Only image sets that change or fail are listed; unchanged ones are counted in the summary. Selectors
    that lost or gained image sets since the drift state, what was not read and why, and the cost follow."""
    summary = summarize(plan)
    out: list[str] = []
    shown = [p for p in plan.image_sets if p.action != "none"]
    if shown:
        replacing = any(p.action == "replace" for p in shown)
        out.append("Drift found: live metadata differs from the specs:" if drift
                   else f"The reconciler will perform the following updates{' and replacements' if replacing else ''}:")
        if replacing:  # terraform's legend for "must be replaced"
            out.append(f"  {_REPLACE} replace: copied, changed on the copy, and promoted under a new image set ID")
        out.append("")
    for isp in shown:
        out += [_paint(f"  {line}", colour) for line in image_set_block(isp, redactor, rates)]
        out.append("")
    retarget = retarget_lines(plan)
    if retarget:
        out += [_paint(line, colour) for line in retarget]
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
    eta = plan_eta(plan, rates)
    if eta:
        out.append(eta)
    out += targeting_lines(plan.targeting)
    out += unread_lines(plan)
    if plan.cost is not None:
        out.append(cost_line(plan.cost))
    return "\n".join(out) + "\n"
