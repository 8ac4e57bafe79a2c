"""The plan as markdown for a pull-request comment: the summary first, counts per action (the studies
only in a collapsed block), then the details until the comment would pass 60,000 characters (GitHub's
limit is 65,536), and a line saying what was left out. Redacted as every output is (``redact``)."""

from __future__ import annotations

import re
from collections import defaultdict

from reconciler.plan.model import ImageSetPlan, Plan
from reconciler.render.common import cost_line, duration, membership_lines, plan_eta, plural, summarize
from reconciler.render.redact import Redactor
from reconciler.render.replacement import DEFAULT_RATES, NEW_ID, Rates, plan_writes, seconds, writes
from reconciler.render.targeting import targeting_markdown
from reconciler.render.text import image_set_block

LIMIT = 60_000
_MAX_STUDY_ROWS = 50
_FOOTER_RESERVE = 300


_ACTIONS = (("update", "to update"), ("replace", "to replace (-/+)"), ("error", "with errors"), ("none", "unchanged"))
_OPS = ("add", "change", "remove")


def _rollup(plan: Plan, redactor: Redactor) -> list[str]:
    """Counts per action, then the studies, only inside a collapsed block: fifty studies are one table
    of three rows, not fifty rows of fingerprints."""
    out = ["| action | image sets | studies | add | change | remove | requests |", "|---|---|---|---|---|---|---|"]
    for action, label in _ACTIONS:
        sets = [p for p in plan.image_sets if p.action == action]
        if not sets:
            continue
        ops: list[str] = [c.op for p in sets for c in p.changes]
        studies = len({p.study for p in sets if p.unread is None})  # an unread image set's study is unknown
        out.append(f"| {label} | {len(sets)} | {studies} | "
                   + " | ".join(str(ops.count(op)) for op in _OPS) + f" | {sum(len(p.requests) for p in sets)} |")
    return [*out, "", *_study_details(plan, redactor)]


def _study_details(plan: Plan, redactor: Redactor) -> list[str]:
    totals: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0, 0, 0, 0])
    for isp in plan.image_sets:
        if isp.unread is not None:  # not read: its study is not known (counted apart, above the table)
            continue
        row = totals[redactor.label("StudyInstanceUID", isp.study) or "(unknown study)"]
        row[0] += 1
        row[1] += isp.action in ("update", "replace")
        row[2] += isp.action == "error"
        for c in isp.changes:
            row[3 + _OPS.index(c.op)] += 1
    rows = sorted(totals.items(), key=lambda kv: (-(kv[1][1] + kv[1][2]), kv[0]))
    out = [f"<details><summary>{plural(len(rows), 'study', 'studies')}</summary>", "",
           "| study | image sets | to update or replace | errors | add | change | remove |",
           "|---|---|---|---|---|---|---|"]
    out += [f"| `{study}` | " + " | ".join(str(n) for n in row) + " |" for study, row in rows[:_MAX_STUDY_ROWS]]
    if len(rows) > _MAX_STUDY_ROWS:
        out.append(f"| … {len(rows) - _MAX_STUDY_ROWS} more studies | | | | | | |")
    return [*out, "", "</details>"]


def _replacements(plan: Plan, rates: Rates) -> list[str]:
    """The replacements in a few lines: they change image set IDs, so a reviewer must not miss them."""
    replaced = [p for p in plan.image_sets if p.action == "replace"]
    if not replaced:
        return []
    w = plan_writes(plan)
    out = [f"**{plural(len(replaced), 'image set')} to replace (-/+)**: each is copied to a non-primary image set, "
           "the copy updated, the primary deleted, the copy promoted to primary under a **new image set ID** "
           f"({NEW_ID}), and the copy deleted: {w.copies} CopyImageSet and {w.deletes} DeleteImageSet besides "
           "the updates.", ""]
    out += [f"- `{p.image_set_id}` -/+ new ID ({NEW_ID}): {plural(writes(p), 'write')}, about "
            f"{duration(seconds(p, rates))}" for p in replaced[:_MAX_STUDY_ROWS]]
    if len(replaced) > _MAX_STUDY_ROWS:
        out.append(f"- … {len(replaced) - _MAX_STUDY_ROWS} more (`reconciler plan` lists each)")
    return [*out, ""]


def _retargets(plan: Plan) -> list[str]:
    return [line for r in plan.retargets for line in (f"> **Warning:** {r.message()}", "")]


def _details(isp: ImageSetPlan, redactor: Redactor, rates: Rates) -> str:
    lines = image_set_block(isp, redactor, rates)
    title = f"{isp.image_set_id}: {isp.action}" + (f", {plural(len(isp.requests), 'request')}" if isp.requests else "")
    if isp.action == "replace":
        title = f"{isp.image_set_id}: -/+ replace, {plural(writes(isp), 'write')}, new image set ID"
    body = "\n".join(line.strip() for line in lines[1:])
    fence = "`" * max(3, _longest_backtick_run(body) + 1)  # a value can never close the code block
    return f"<details><summary><code>{title}</code></summary>\n\n{fence}diff\n{body}\n{fence}\n</details>\n"


def _longest_backtick_run(text: str) -> int:
    return max((len(run) for run in re.findall(r"`+", text)), default=0)


def render_markdown(
    plan: Plan, redactor: Redactor, *, rates: Rates = DEFAULT_RATES, limit: int = LIMIT, drift: bool = False,
) -> str:
    s = summarize(plan)
    title = "Drift report" if drift else "Reconciler plan"
    eta = plan_eta(plan, rates)
    head = [
        f"### {title}: {s.actions()}{s.membership()}, {s.errors} with errors",
        "",
        f"**{s.add} to add, {s.change} to change, {s.remove} to remove** in {plural(s.image_sets, 'image set')}"
        + (f"; {eta}" if eta else ""),
        "",
        *_replacements(plan, rates),
        *_retargets(plan),
        *targeting_markdown(plan.targeting),
    ]
    if s.unchanged_from_state or s.skipped_archived:
        head += [f"Not read: **{s.unchanged_from_state} unchanged since the drift state verified them**, "
                 f"**{s.skipped_archived} in the archive tier** (not verified, `--no-archive-reads`).", ""]
    if plan.cost is not None:
        head += [cost_line(plan.cost), ""]
    if plan.membership:
        head += ["Selectors that lost or gained image sets since the drift state:", "",
                 *(f"- `{line[2:]}`" for line in membership_lines(plan)), ""]
    if plan.image_sets:
        head += [*_rollup(plan, redactor), ""]
    out = "\n".join(head) + "\n"
    shown = [p for p in plan.image_sets if p.action != "none"]
    left = 0
    left_changes = 0
    for i, isp in enumerate(shown):
        block = _details(isp, redactor, rates)
        if len(out) + len(block) + _FOOTER_RESERVE > limit:
            rest = shown[i:]
            left, left_changes = len(rest), sum(len(p.changes) for p in rest)
            break
        out += block
    moved = [line for p in plan.image_sets if p.action == "none" and p.moves for line in image_set_block(p, redactor)]
    if moved and not left:  # in sync under new keys (terraform's "moved"), when it fits
        fence = "`" * max(3, _longest_backtick_run("\n".join(moved)) + 1)
        section = f"\nIn sync, under new keys:\n\n{fence}\n" + "\n".join(moved) + f"\n{fence}\n"
        out += section if len(out) + len(section) + _FOOTER_RESERVE <= limit else ""
    if left:
        out += (f"\n_{plural(left, 'image set')} ({plural(left_changes, 'change')}) left out to keep this "
                f"comment under {limit:,} characters; run `reconciler plan` for the full plan._\n")
    return out
