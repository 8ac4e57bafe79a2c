"""``drift --blame`` output: per drifted attribute, the version that introduced its live value, as lines
(text, markdown) or as ``blame`` members of the drift JSON. Paths and versions only, never values."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from reconciler.plan.blame import Blame, ImageSetBlame
from reconciler.plan.model import Plan
from reconciler.render.history import iso
from reconciler.render.redact import Redactor
from reconciler.spec.model import format_path

_MAX_MARKDOWN_ROWS = 50


def _when(epoch: float | None) -> str:
    return iso(epoch) or "time unknown"


def blame_json(
    doc: dict[str, Any], blames: Mapping[tuple[str, str], ImageSetBlame], redactor: Redactor
) -> dict[str, Any]:
    """The drift JSON (``plan_json`` with REDACTOR, whose paths these are matched by) with ``blame`` on each change and
    ``blameReads`` per image set."""
    for item in doc.get("image_sets", []):
        found = blames.get((item["datastoreId"], item["imageSetId"]))
        if found is None:
            continue
        item["blameReads"] = found.reads
        shown = {redactor.path(path): b for path, b in found.blames.items()}
        for change in item.get("changes", []):
            b = shown.get(tuple(change["path"]))
            if b is not None:
                change["blame"] = {"version": b.version, "updatedAt": iso(b.updated_at),
                                   "sinceFirstVersion": b.since_first}
                if b.study is not None:
                    change["blame"]["studyWide"] = {
                        "running": b.study.running,
                        "members": [{"imageSetId": i, "versionId": v} for i, v in b.study.members]}
    return doc


def _study(b: Blame) -> str:
    """How a study-wide update made the blamed version, or nothing when the image set was edited itself."""
    if b.study is None:
        return ""
    if not b.study.members:
        return "; a study-wide update from another image set of the study (still running), not an edit of its own"
    others = ", ".join(f"{i} (version {v})" for i, v in b.study.members)
    return (f"; a study-wide update (includeStudyImageSets), not an edit of its own: it also changed image "
            f"set{'s' if len(b.study.members) != 1 else ''} {others}")


def blame_text(
    blames: Mapping[tuple[str, str], ImageSetBlame], plan: Plan, redactor: Redactor | None = None, *,
    markdown: bool = False,
) -> str:
    """Lines naming, per drifted attribute, the version that introduced its live value (never the value;
    paths redacted by REDACTOR, by default a new one)."""
    redactor = redactor or Redactor()
    rows: list[str] = []
    for isp in plan.image_sets:
        found = blames.get((isp.datastore_id, isp.image_set_id))
        if found is None:
            continue
        for b in found.blames.values():
            since = " (since the first version)" if b.since_first else ""
            where = format_path(redactor.path(b.path))
            rows.append(f"{isp.image_set_id} {where}: live value from version {b.version}, "
                        f"{_when(b.updated_at)}{since}{_study(b)}")
    if not rows:
        return ""
    reads = sum(f.reads for f in blames.values())
    head = (f"Blame: the version that introduced each drifted live value ({reads} metadata "
            f"read{'s' if reads != 1 else ''})")
    if not markdown:
        return "\n" + head + ":\n" + "".join(f"  {r}\n" for r in rows)
    shown = [f"- `{r}`" for r in rows[:_MAX_MARKDOWN_ROWS]]
    if len(rows) > _MAX_MARKDOWN_ROWS:
        shown.append(f"- … {len(rows) - _MAX_MARKDOWN_ROWS} more: run `reconciler drift --blame` for all")
    return f"\n#### {head}\n\n" + "\n".join(shown) + "\n"
