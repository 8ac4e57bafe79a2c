"""What ``--target``/``--exclude`` left out of a plan, in each output format: the count and the image set
IDs (IDs are no patient data). Text and markdown list at most a screenful; JSON lists every one."""

from __future__ import annotations

from typing import Any

from reconciler.plan.model import Targeting
from reconciler.render.common import plural

TEXT_LIMIT = 100
MARKDOWN_LIMIT = 50


def _heading(t: Targeting) -> str:
    if not t.left_out:
        return "Targeting (--target/--exclude): no image set left out."
    return f"Targeting (--target/--exclude): {plural(len(t.left_out), 'image set')} left out, not read and not planned"


def _more(t: Targeting, shown: int) -> list[str]:
    rest = len(t.left_out) - shown
    return [f"… and {rest} more (`--format json` lists every one)"] if rest > 0 else []


def targeting_lines(t: Targeting | None) -> list[str]:
    """Text: a heading line, then one ``  - IMAGE_SET_ID (datastore D)`` line per image set left out."""
    if t is None:
        return []
    if not t.left_out:
        return [_heading(t)]
    lines = [f"  - {i} (datastore {d})" for d, i in t.left_out[:TEXT_LIMIT]]
    return [_heading(t) + ":", *lines, *(f"  {m}" for m in _more(t, TEXT_LIMIT))]


def targeting_json(t: Targeting) -> dict[str, Any]:
    """The ``left_out`` member of the plan JSON (``schemas/plan.schema.json``)."""
    return {
        "count": len(t.left_out),
        "target": list(t.targets),
        "exclude": list(t.excludes),
        "image_sets": [{"datastoreId": d, "imageSetId": i} for d, i in t.left_out],
    }


def targeting_markdown(t: Targeting | None) -> list[str]:
    """Markdown: the heading in bold, the IDs in a collapsed block."""
    if t is None:
        return []
    if not t.left_out:
        return [f"**{_heading(t)}**", ""]
    items = [f"- `{i}` (datastore `{d}`)" for d, i in t.left_out[:MARKDOWN_LIMIT]]
    return [f"**{_heading(t)}.**", "", "<details><summary>left out</summary>", "", *items,
            *(f"- {m}" for m in _more(t, MARKDOWN_LIMIT)), "", "</details>", ""]
