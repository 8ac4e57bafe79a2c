"""Which image sets the specs target: ``select`` targets resolved with SearchImageSets, then checked.

Two checks need the resolved image sets, so they run here rather than in validation:

- a ``select`` that finds no image set is an error, so that a mistyped patient ID does not read as
  "no changes"; a document that expects an empty match says ``target.allowEmpty: true``;
- documents written with different targets (a ``select`` and an ``imageSetId``, or two selectors)
  that meet on one image set must agree, exactly as documents with one written target must
  (``reconciler.spec.crossdoc`` is the one rule for both).

Either problem stops the plan before any metadata is read, so nothing can be written. Messages name
files, lines and the selector key, never its value (patient data).
SearchImageSets: https://docs.aws.amazon.com/healthimaging/latest/APIReference/API_SearchImageSets.html
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from reconciler.api import HealthImagingAPI
from reconciler.errors import NotFound, SpecError
from reconciler.plan.fetch import Work
from reconciler.spec.crossdoc import check_conflicts
from reconciler.spec.model import Diagnostic, SpecDocument, format_path


class TargetError(SpecError):
    """Spec targets that cannot be planned: an empty ``select``, or documents that disagree on an image set."""

    def __init__(self, diagnostics: Sequence[Diagnostic]) -> None:
        self.diagnostics = tuple(diagnostics)
        count = len(self.diagnostics)
        first = self.diagnostics[0].render() if count else "the spec targets cannot be planned"
        more = f" (and {count - 1} more)" if count > 1 else ""
        super().__init__(first + more)


@dataclass(frozen=True)
class Selection:
    """What one ``select`` target found: its document, and the IDs of the image sets it matched."""

    doc: SpecDocument
    ids: frozenset[str]


@dataclass(frozen=True)
class Resolution:
    """The image sets to plan, each with its documents, notes on selectors allowed to be empty, and what
    each selector found (for a drift state, which reports selectors that lose or gain image sets)."""

    works: list[Work]
    notes: tuple[str, ...] = ()
    selections: tuple[Selection, ...] = ()


def resolve(docs: Sequence[SpecDocument], api: HealthImagingAPI) -> Resolution:
    """Group the documents by image set, expanding ``select`` targets; TargetError when they do not hold."""
    order: list[tuple[str, str]] = []
    by_key: dict[tuple[str, str], list[SpecDocument]] = {}
    # (version, storage tier, primary) from the search
    versions: dict[tuple[str, str], tuple[str, str | None, bool | None]] = {}
    errors: list[Diagnostic] = []
    notes: list[str] = []
    selections: list[Selection] = []
    for doc in docs:
        t = doc.target
        if t.image_set_id is not None:
            hits: list[tuple[str, tuple[str, str | None, bool | None] | None]] = [(t.image_set_id, None)]
        elif t.select is not None:
            key, value = t.select
            try:
                hits = [(h.image_set_id, (h.version, h.storage_tier, h.is_primary))
                        for h in api.search_image_sets(t.datastore_id, key, value)]
            except NotFound:  # SearchImageSets answers ResourceNotFoundException for a datastore that is not there
                pos = doc.target_position(("datastoreId",))
                errors.append(Diagnostic(pos.file, pos.line, pos.column, ("target", "datastoreId"),
                                         f"datastore {t.datastore_id} does not exist"))
                continue
            selections.append(Selection(doc, frozenset(i for i, _ in hits)))
            if not hits:
                empty = _empty_select(doc, key)
                if t.allow_empty:
                    pos = doc.target_position(("select", key))
                    notes.append(f"{pos.file}:{pos.line}: {format_path(('target', 'select', key))} matches no "
                                 f"image set in datastore {t.datastore_id} (allowed by `allowEmpty: true`)")
                else:
                    errors.append(empty)
        else:
            continue
        for image_set_id, found in hits:
            k = (t.datastore_id, image_set_id)
            if k not in by_key:
                order.append(k)
                by_key[k] = []
            by_key[k].append(doc)
            if found is not None:
                versions[k] = (str(found[0]), found[1], found[2])
    works = []
    for k in order:
        version, tier, primary = versions.get(k, (None, None, None))
        works.append(Work(k[0], k[1], version, tuple(by_key[k]), is_primary=primary, tier=tier))
    errors.extend(_conflicts(works))
    if errors:
        raise TargetError(errors)
    return Resolution(works, tuple(notes), tuple(selections))


def _empty_select(doc: SpecDocument, key: str) -> Diagnostic:
    pos = doc.target_position(("select", key))
    return Diagnostic(
        pos.file, pos.line, pos.column, ("target", "select", key),
        f"matches no image set in datastore {doc.target.datastore_id}; check the {key} value, "
        "or set `target.allowEmpty: true` if finding none is expected",
    )


def _conflicts(works: Sequence[Work]) -> list[Diagnostic]:
    """Conflicts between documents that meet on an image set; one error per attribute, not per image set."""
    first: dict[tuple[str, int, int, tuple[str, ...], str], Diagnostic] = {}
    extra: dict[tuple[str, int, int, tuple[str, ...], str], int] = {}
    for work in works:
        if len(work.docs) < 2:
            continue
        for _doc, diag in check_conflicts(work.docs, image_set=work.image_set_id):
            key = (diag.file, diag.line, diag.column, diag.path, diag.message.replace(work.image_set_id, "*"))
            if key in first:
                extra[key] = extra.get(key, 0) + 1
            else:
                first[key] = diag
    out = []
    for key, diag in first.items():
        more = extra.get(key, 0)
        if more:
            s = "s" if more != 1 else ""
            diag = Diagnostic(diag.file, diag.line, diag.column, diag.path,
                              f"{diag.message}, and {more} more image set{s}", diag.severity)
        out.append(diag)
    return out
