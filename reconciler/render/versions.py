"""What one version of an image set changes compared with another, in plan form (``revert`` and
``history --diff``): the planner's change lines, redacted unless --show-phi."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from reconciler.api import ImageSetInfo
from reconciler.apply.history import history_json, history_text
from reconciler.plan.model import Change
from reconciler.render.common import change_line
from reconciler.render.json_out import change_json
from reconciler.render.redact import Redactor

Diffs = Mapping[str, tuple[str, tuple[Change, ...]]]  # version -> (the version before it, its changes)


def counts(changes: Sequence[Change]) -> str:
    """``1 to add, 2 to change, 0 to remove``."""
    ops: list[str] = [c.op for c in changes]
    return f"{ops.count('add')} to add, {ops.count('change')} to change, {ops.count('remove')} to remove"


def change_lines(changes: Sequence[Change], redactor: Redactor, indent: str = "    ") -> list[str]:
    return [f"{indent}{change_line(c, redactor, note=False)}" for c in changes]


def revert_preview(current: str, to_version: str, changes: Sequence[Change], redactor: Redactor) -> list[str]:
    """What the new version made by reverting to TO_VERSION changes compared with CURRENT."""
    if not changes:
        return [f"No changes: version {to_version} has the same content as version {current} (the current one)."]
    return [f"Changes from version {current} (the current one) to the new version: {counts(changes)}",
            *change_lines(changes, redactor)]


def history_diff_text(
    datastore_id: str, image_set_id: str, versions: Sequence[ImageSetInfo], diffs: Diffs, redactor: Redactor
) -> list[str]:
    """The history table, each version's row followed by what it changed compared with the one before."""
    table = history_text(datastore_id, image_set_id, versions)
    out = table[:2]
    for row, info in zip(table[2:], versions, strict=True):
        out.append(row)
        if info.version_id not in diffs:
            continue  # the oldest version: nothing before it
        previous, changes = diffs[info.version_id]
        if changes:
            out.append(f"    changes from version {previous}: {counts(changes)}")
            out += change_lines(changes, redactor)
        else:
            out.append(f"    no changes from version {previous}")
    return out


def history_diff_json(
    datastore_id: str, image_set_id: str, versions: Sequence[ImageSetInfo], diffs: Diffs, redactor: Redactor
) -> dict[str, Any]:
    """The history document, each version with ``diff``: what it changed (null for the oldest)."""
    doc = history_json(datastore_id, image_set_id, versions)
    for row, info in zip(doc["versions"], versions, strict=True):
        if info.version_id in diffs:
            previous, changes = diffs[info.version_id]
            ops: list[str] = [c.op for c in changes]
            row["diff"] = {"comparedWith": previous,
                           "summary": {op: ops.count(op) for op in ("add", "change", "remove")},
                           "changes": [change_json(c, redactor) for c in changes]}
        else:
            row["diff"] = None
    return doc
