"""The spec pipeline: expand paths, load (layer 1), schema (layer 2), DICOM (layer 3), cross-document.

``load_specs`` is what the planner calls; ``validate_paths`` is what ``reconciler validate`` calls.
Neither prints nor raises for a bad spec: findings are Diagnostic values.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

from reconciler.spec.crossdoc import check_conflicts
from reconciler.spec.loader import LoadedDocument, load_file, load_text
from reconciler.spec.model import Diagnostic, SpecDocument, Target
from reconciler.spec.schema import check_schema
from reconciler.spec.semantics import check_semantics

SPEC_SUFFIXES = (".yaml", ".yml")


def expand_paths(paths: Sequence[str]) -> tuple[list[str], list[Diagnostic]]:
    """Spec files named by ``paths``: files as given, folders as all *.yaml/*.yml below, sorted."""
    files: list[str] = []
    diags: list[Diagnostic] = []
    for path in paths:
        if os.path.isdir(path):
            found = sorted(
                os.path.join(root, name)
                for root, _dirs, names in os.walk(path)
                for name in names
                if name.endswith(SPEC_SUFFIXES)
            )
            if not found:
                diags.append(Diagnostic(path, 1, 1, (), "no *.yaml or *.yml files in this folder"))
            files.extend(found)
        elif os.path.exists(path):
            files.append(path)
        else:
            diags.append(Diagnostic(path, 1, 1, (), "no such file or folder"))
    return list(dict.fromkeys(files)), diags


def load_specs(paths: Sequence[str]) -> tuple[list[SpecDocument], list[Diagnostic]]:
    """Every valid spec document under ``paths`` and every finding (errors and warnings).

    A document with an error is left out of the returned list; the planner should stop when any
    diagnostic is an error.
    """
    files, diags = expand_paths(paths)
    docs: list[SpecDocument] = []
    for file in files:
        loaded, file_diags = load_file(file)
        docs.extend(_check_file(file, loaded, file_diags))
        diags.extend(file_diags)
    return _with_conflicts(docs, diags)


def validate_text(text: str, file: str = "<text>") -> list[Diagnostic]:
    """All findings for spec text that is not in a file (editors, tests)."""
    return validate_loaded(file, *load_text(text, file))


def validate_loaded(file: str, loaded: list[LoadedDocument], diags: list[Diagnostic]) -> list[Diagnostic]:
    """All findings for what ``load_text`` returned (LOADED is not changed): for a caller that also needs
    the loaded documents, without parsing the text twice."""
    found = list(diags)
    docs = _check_file(file, loaded, found)
    return _with_conflicts(docs, found)[1]


def _check_file(file: str, loaded: list[LoadedDocument], diags: list[Diagnostic]) -> list[SpecDocument]:
    """Schema and DICOM checks of one file's documents; findings are added to ``diags`` in line order."""
    docs: list[SpecDocument] = []
    found_all: list[Diagnostic] = []
    if not loaded and not diags:
        diags.append(Diagnostic(file, 1, 1, (), "the file holds no spec documents", "warning"))
    for doc in loaded:
        found = doc.problems + check_schema(doc) + check_semantics(doc)
        found_all.extend(found)
        if not any(d.severity == "error" for d in found):
            docs.append(_spec_document(doc))
    diags.extend(sorted(found_all, key=lambda d: (d.line, d.column)))
    return docs


def _with_conflicts(
    docs: list[SpecDocument], diags: list[Diagnostic]
) -> tuple[list[SpecDocument], list[Diagnostic]]:
    conflicts = check_conflicts(docs)
    diags.extend(diag for _doc, diag in conflicts)
    bad = {id(doc) for doc, _diag in conflicts}
    return [d for d in docs if id(d) not in bad], diags


def validate_paths(paths: Sequence[str]) -> list[Diagnostic]:
    """All findings for the spec files under ``paths`` (empty: valid and clean)."""
    return load_specs(paths)[1]


def _spec_document(doc: LoadedDocument) -> SpecDocument:
    value: dict[str, Any] = doc.value
    target = value["target"]
    select = next(iter(target["select"].items())) if "select" in target else None
    positions = {p[1:]: pos for p, pos in doc.positions.items() if p[0] == "desired" and len(p) > 1}
    target_positions = {p[1:]: pos for p, pos in doc.positions.items() if p[0] == "target"}
    return SpecDocument(
        file=doc.file,
        index=doc.index,
        target=Target(target["datastoreId"], target.get("imageSetId"), select, target.get("allowEmpty") is True),
        force=value.get("force") is True,
        study_wide=value.get("studyWide") is not False,
        replace=doc.positions.get(("replace",)) if value.get("replace") == "allow" else None,
        desired=value["desired"],
        positions=positions,
        line=doc.line,
        target_positions=target_positions,
    )
