"""Layer 1: read a spec file and turn its YAML into values exactly as the user wrote them.

Typing rules (the README's "Spec reference"): every scalar stays the string it was written as, except
- ``null``, ``~`` and an empty value -> None (the attribute must be absent);
- the top-level ``force: true|false``, ``studyWide: true|false`` and ``target.allowEmpty: true|false`` -> bool;
- a plain number under a DICOM attribute whose VR is binary numeric (US, UL, SS, SL, FL, FD, ...;
  from the dictionary or the sibling ``DICOMVRs``) -> int or float.
So ``StudyDate: 20240101``, ``SliceThickness: 1.10``, ``PatientSex: no`` and an all-digit datastore ID
reach the service as written. Mapping keys are always the text as written (``00111001``).
"""

from __future__ import annotations

import math
import os
import re
from dataclasses import dataclass, field
from typing import Any

from reconciler.dicom.dictionary import lookup
from reconciler.dicom.vr import NUMBER_VRS, vr_alternatives
from reconciler.spec.model import Diagnostic, Path, SourcePos, nearest_position
from reconciler.spec.yamlnodes import Node, NodeError, compose

MAX_FILE_BYTES = 5 * 1024 * 1024
"""Largest spec file read (a spec names what it manages; 5 MB is far above any real one)."""

_NULLS = {"", "~", "null", "Null", "NULL"}
_BOOLS = {"true": True, "True": True, "TRUE": True, "false": False, "False": False, "FALSE": False}
_BOOL_PATHS = {("force",), ("studyWide",), ("target", "allowEmpty")}
_INT_RE = re.compile(r"[-+]?\d+")
_FLOAT_RE = re.compile(r"[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?")


@dataclass
class LoadedDocument:
    """One document as loaded: its value tree and the position of every key (full document paths)."""

    file: str
    index: int
    line: int  # 1-based
    value: Any
    positions: dict[Path, SourcePos] = field(default_factory=dict)
    problems: list[Diagnostic] = field(default_factory=list)  # found while loading (duplicate keys, ...)

    def position(self, path: Path) -> SourcePos:
        """The closest known source position for the full document ``path`` (walking up to the document)."""
        return nearest_position(self.positions, path, SourcePos(self.file, self.line, 1))


def read_text(path: str) -> tuple[str | None, list[Diagnostic]]:
    """The file's text, or a diagnostic: unreadable, too large (not read), not UTF-8."""
    try:
        size = os.stat(path).st_size
        if size > MAX_FILE_BYTES:
            return None, [_diag(path, 1, 1, f"file is larger than {MAX_FILE_BYTES // (1024 * 1024)} MB; refused")]
        with open(path, "rb") as fh:
            data = fh.read(MAX_FILE_BYTES + 1)
    except OSError as exc:
        return None, [_diag(path, 1, 1, f"cannot read the file: {exc.strerror or type(exc).__name__}")]
    if len(data) > MAX_FILE_BYTES:
        return None, [_diag(path, 1, 1, f"file is larger than {MAX_FILE_BYTES // (1024 * 1024)} MB; refused")]
    try:
        return data.decode("utf-8-sig"), []
    except UnicodeDecodeError as exc:
        before = data[: exc.start]
        line = before.count(b"\n") + 1
        column = exc.start - (before.rfind(b"\n") + 1) + 1
        return None, [_diag(path, line, column, "file is not valid UTF-8 (byte at this position)")]


def load_file(path: str) -> tuple[list[LoadedDocument], list[Diagnostic]]:
    """All documents of one file (each with its own problems), or the diagnostics that stopped it."""
    text, diags = read_text(path)
    if text is None:
        return [], diags
    return load_text(text, path)


def load_text(text: str, file: str) -> tuple[list[LoadedDocument], list[Diagnostic]]:
    """All documents of ``text`` (named ``file``), and the problems that stopped the whole file."""
    try:
        docs = compose(text)
    except NodeError as exc:
        return [], [_diag(file, exc.line + 1, exc.column + 1, exc.message)]
    out: list[LoadedDocument] = []
    for doc in docs:
        root = doc.root
        if root is None or (root.kind == "scalar" and root.plain and root.text in _NULLS):
            continue  # an empty document (e.g. a trailing `---`)
        builder = _Builder(file)
        value = builder.build(root, (), None)
        out.append(LoadedDocument(file, doc.index, doc.line + 1, value, builder.positions, builder.diags))
    return out, []


def _diag(file: str, line: int, column: int, message: str, path: Path = ()) -> Diagnostic:
    return Diagnostic(file, line, column, path, message)


class _Builder:
    """Node tree -> Python values, deciding each scalar's type from where it sits."""

    def __init__(self, file: str) -> None:
        self.file = file
        self.positions: dict[Path, SourcePos] = {}
        self.diags: list[Diagnostic] = []

    def pos(self, node: Node) -> SourcePos:
        return SourcePos(self.file, node.line + 1, node.column + 1)

    def build(self, node: Node, path: Path, vr: str | None) -> Any:
        """``vr``: the VR of the DICOM attribute this node is (part of) the value of, if any."""
        if node.kind == "scalar":
            return self.scalar(node, path, vr)
        if node.kind == "seq":
            out: list[Any] = []
            for i, item in enumerate(node.items):
                self.positions.setdefault((*path, str(i)), self.pos(item))
                out.append(self.build(item, (*path, str(i)), vr))
            return out
        return self.mapping(node, path, vr)

    def mapping(self, node: Node, path: Path, vr: str | None, tag_vrs: dict[str, str] | None = None) -> Any:
        """``tag_vrs``: for a level's DICOM map, the VRs its sibling ``DICOMVRs`` gives tag keys."""
        in_dicom = _in_desired(path) and (path[-1] == "DICOM" or vr == "SQ")
        sibling_vrs = _dicomvrs(node) if _in_desired(path) else {}
        out: dict[str, Any] = {}
        first_line: dict[str, int] = {}
        for key_node, value_node in node.pairs:
            if key_node.kind != "scalar":
                self.error(key_node, path, "mapping keys must be plain text, not lists or mappings")
                continue
            key = key_node.text
            if key == "<<" and key_node.plain:
                self.error(key_node, path, "YAML merge keys (<<) are not supported; write the keys out")
                continue
            if key in first_line:
                self.error(key_node, (*path, key), f"duplicate key (first written at line {first_line[key]})")
                continue
            first_line[key] = key_node.line + 1
            self.positions[(*path, key)] = self.pos(key_node)
            child_path = (*path, key)
            if key == "DICOM" and value_node.kind == "map":
                out[key] = self.mapping(value_node, child_path, None, sibling_vrs)
            else:
                child_vr = _vr_for(key, tag_vrs or {}) if in_dicom else None
                out[key] = self.build(value_node, child_path, child_vr)
        return out

    def scalar(self, node: Node, path: Path, vr: str | None) -> Any:
        text = node.text
        if not node.plain:
            return text
        if text in _NULLS:
            return None
        if path in _BOOL_PATHS and text in _BOOLS:
            return _BOOLS[text]
        if vr and any(v in NUMBER_VRS for v in vr_alternatives(vr)):
            if _INT_RE.fullmatch(text):
                return int(text)
            if _FLOAT_RE.fullmatch(text) and math.isfinite(float(text)):
                return float(text)
        return text

    def error(self, node: Node, path: Path, message: str) -> None:
        self.diags.append(Diagnostic(self.file, node.line + 1, node.column + 1, path, message))


def _vr_for(key: str, tag_vrs: dict[str, str]) -> str | None:
    given = tag_vrs.get(key.upper())
    if given:
        return given
    entry = lookup(key)
    return entry.vr if entry else None


def _in_desired(path: Path) -> bool:
    return bool(path) and path[0] == "desired"


def _dicomvrs(node: Node) -> dict[str, str]:
    """The ``DICOMVRs`` entry of a level mapping, read as text (tag -> VR), before its DICOM sibling."""
    for key_node, value_node in node.pairs:
        if key_node.kind == "scalar" and key_node.text == "DICOMVRs" and value_node.kind == "map":
            return {k.text.upper(): v.text for k, v in value_node.pairs if k.kind == v.kind == "scalar"}
    return {}
