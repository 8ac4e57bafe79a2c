"""Warnings once per kind, for the commands that plan (``validate`` lists every one).

An imported spec names every UID of its image set, and each one carries the same "needs force"
warning: 50 instances gave 53 lines on every plan. Warnings that differ only in the attribute they
are about are one kind; a kind found more than once is printed once, at its first position, with a
count and the other attributes' keys.
"""

from __future__ import annotations

from collections.abc import Sequence

from reconciler.spec.model import Diagnostic

_MAX_KEYS = 5


def warning_lines(diags: Sequence[Diagnostic]) -> list[str]:
    """One line per kind of warning in ``diags`` (errors are left out), in order of first appearance."""
    groups: dict[str, list[Diagnostic]] = {}
    for d in diags:
        if d.severity == "warning":
            groups.setdefault(_kind(d), []).append(d)
    return [_line(group) for group in groups.values()]


def _kind(d: Diagnostic) -> str:
    key = d.path[-1] if d.path else ""
    return d.message.replace(f"`{key}`", "\0").replace(key, "\0") if key else d.message


def _line(group: list[Diagnostic]) -> str:
    first = group[0]
    if len(group) == 1:
        return first.render()
    seen = first.path[-1:]
    others = list(dict.fromkeys(d.path[-1] for d in group[1:] if d.path and d.path[-1:] != seen))
    keys = ": " + ", ".join(others[:_MAX_KEYS]) + (", ..." if len(others) > _MAX_KEYS else "") if others else ""
    return f"{first.render()} (and {len(group) - 1} more like it{keys}; `reconciler validate` lists each)"
