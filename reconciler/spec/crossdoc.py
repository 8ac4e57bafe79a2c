"""Across documents: two specs that manage the same attribute of the same image set must agree.

The same value twice (after DICOM normalisation) is fine; different values, or one document removing
a series/instance that another one sets attributes in, is an error naming both files and lines.
At validation targets are compared as written; the planner runs the same check again once
``select`` targets are resolved to image sets (``image_set``), where two documents written with
different targets may meet on one image set.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from reconciler.dicom.dictionary import lookup
from reconciler.dicom.normalize import values_equal
from reconciler.dicom.tree import PARTS, attributes, walk
from reconciler.spec.model import Diagnostic, Path, SpecDocument

_REMOVED = object()  # a series or instance written as null


def check_conflicts(
    docs: Sequence[SpecDocument], image_set: str | None = None
) -> list[tuple[SpecDocument, Diagnostic]]:
    """(later document, error) for each conflict; the error sits at the later document's line.

    With ``image_set``, every document is taken to target that one image set (the planner passes the
    documents a resolved image set gathered) and the messages name it.
    """
    where = "the same image set" if image_set is None else f"image set {image_set} (both documents target it)"
    out: list[tuple[SpecDocument, Diagnostic]] = []
    claims: dict[tuple[Any, Path], tuple[Any, SpecDocument]] = {}
    removals: dict[tuple[Any, Path], SpecDocument] = {}
    inside: dict[tuple[Any, Path], SpecDocument] = {}  # (target, node) -> first document setting under it
    for doc in docs:
        target = _target_key(doc) if image_set is None else image_set
        leaves = list(_leaves(doc.desired))
        for path, value in leaves:
            if value is _REMOVED:
                setter = inside.get((target, path))
                if setter is not None and setter is not doc:  # an earlier document sets attributes in it
                    out.append((doc, _conflict(doc, path, setter, "sets attributes inside it", where)))
                removals.setdefault((target, path), doc)
        for path, value in leaves:
            if value is not _REMOVED:
                for cut in range(1, len(path)):
                    inside.setdefault((target, path[:cut]), doc)
            earlier = claims.get((target, path))
            if earlier is None:
                claims[(target, path)] = (value, doc)
            elif earlier[1] is not doc and not _same(earlier[0], value, path):
                out.append((doc, _conflict(doc, path, earlier[1], "sets a different value", where)))
            for cut in range(len(path) - 1, 0, -1):
                remover = removals.get((target, path[:cut]))
                if remover is not None and remover is not doc:
                    out.append((doc, _conflict(doc, path, remover, "removes the series or instance", where)))
                    break
    return out


def _target_key(doc: SpecDocument) -> Any:
    t = doc.target
    return (t.datastore_id, t.image_set_id, t.select)


def _same(a: Any, b: Any, path: Path) -> bool:
    if a is _REMOVED or b is _REMOVED:
        return a is b
    entry = lookup(path[-1])
    return values_equal(a, b, entry.vr if entry else None)


def _conflict(doc: SpecDocument, path: Path, other: SpecDocument, what: str, where: str) -> Diagnostic:
    pos, there = doc.position(path), other.position(path)
    return Diagnostic(
        doc.file, pos.line, pos.column, ("desired", *path),
        f"conflicts with {there.file}:{there.line}, which {what} for {where}",
    )


def _leaves(desired: Mapping[str, Any]) -> Iterator[tuple[Path, Any]]:
    """(desired-relative path, value) of every managed attribute and every removed node."""
    for node in walk(desired):
        if node.value is None and node.level in ("Series", "Instance"):
            yield node.path, _REMOVED
        for attr in attributes(node, PARTS):
            yield attr.path, attr.value
