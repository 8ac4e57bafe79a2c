"""`reconciler import`: turn one image set's live metadata into a v1 spec that plans to nothing.

Values are written exactly as live holds them: every string is double-quoted (so YAML's implicit
typing can never turn ``20240101`` into a number or ``no`` into false) and every number is written
plain, which the spec loader reads back as a number for binary numeric VRs and as the same digits
otherwise (DICOM equality then compares them as numbers). Keys that HealthImaging generates
(``ImageFrames``, checksums, ``StoredTransferSyntaxUID``, ...) are never exported: only the ``DICOM``
and ``DICOMVRs`` maps of the chosen levels are.

An empty element (JSON ``null`` in the metadata) is written as an empty value, ``""`` (``[]`` for a
binary number or a sequence, which hold no string), never as ``null``: in a spec, ``null`` means "must be
absent", and DICOM equality counts an empty string, an empty list and an empty element as the same value.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from reconciler.dicom.constraints import is_generated
from reconciler.dicom.dictionary import lookup
from reconciler.dicom.tree import delete_at, set_at, walk
from reconciler.dicom.vr import STRING_VRS, first_vr
from reconciler.errors import UsageError
from reconciler.plan.diff import diff_image_set
from reconciler.spec import validate_loaded
from reconciler.spec.loader import load_text
from reconciler.spec.model import format_path

LEVELS = ("patient", "study", "series", "instance")
_PLAIN_KEY = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")
_INDENT = "  "
# characters YAML may not hold unescaped, or would fold as line breaks inside a quoted scalar
_UNSAFE = re.compile("[\x7f-\x9f\u2028\u2029\ufeff\ufffe\uffff\ud800-\udfff]")


def parse_levels(text: str) -> frozenset[str]:
    """``"patient,study"`` -> {"patient", "study"}; a UsageError names an unknown level."""
    chosen = {part.strip().lower() for part in text.split(",") if part.strip()}
    unknown = sorted(chosen - set(LEVELS))
    if unknown or not chosen:
        raise UsageError(f"--levels {text!r}: choose from {','.join(LEVELS)}"
                         + (f" (unknown: {', '.join(unknown)})" if unknown else ""))
    return frozenset(chosen)


def _node(live: Any, vrs_too: bool = True) -> dict[str, Any]:
    """The exportable part of one level node: its DICOM map (generated keys left out) and VRs."""
    if not isinstance(live, Mapping):
        return {}
    dicom = live.get("DICOM")
    raw_vrs = live.get("DICOMVRs")
    known = raw_vrs if isinstance(raw_vrs, Mapping) else {}
    attrs = {k: _empty_value(k, known.get(k)) if v is None else v
             for k, v in dicom.items() if not is_generated(k)} if isinstance(dicom, Mapping) else {}
    out: dict[str, Any] = {}
    if vrs_too and isinstance(raw_vrs, Mapping):
        vrs = {k: v for k, v in raw_vrs.items() if k in attrs}
        if vrs:
            out["DICOMVRs"] = vrs
    if attrs:
        out["DICOM"] = attrs
    return out


def _empty_value(key: str, vr: Any) -> str | list[Any]:
    """What a spec holds for an empty element: ``""`` for a string VR (or one not known), ``[]`` otherwise."""
    entry = lookup(key) if not isinstance(vr, str) else None
    known = first_vr(vr if isinstance(vr, str) else entry.vr if entry else None)
    return "" if known is None or known in STRING_VRS else []


def desired_from_live(live: Mapping[str, Any], levels: Iterable[str]) -> dict[str, Any]:
    """The ``desired`` tree that manages every attribute of the chosen levels at its live value."""
    chosen = set(levels)
    desired: dict[str, Any] = {}
    with_instances = "instance" in chosen
    # parents come first, so each level's own entries precede its children in the spec
    for node in walk(live, descend=lambda n: with_instances or n.level != "Series"):
        exported = _node(node.value) if node.level.lower() in chosen else {}
        if exported:
            set_at(desired, node.path, exported)
    return desired


@dataclass(frozen=True)
class Origin:
    """Where an imported spec came from, for its header comments."""

    datastore_id: str
    image_set_id: str
    version: str
    imported_at: str  # ISO 8601 UTC
    levels: tuple[str, ...]
    schema_ref: str
    # target by ``select`` (KEY, VALUE) instead of the image set ID: the spec keeps finding the image set
    # after a replacement promotes a copy of it under a new ID
    select: tuple[str, str] | None = None
    # a document for every image set of one patient (``--target-by patient``): (image set ID, version) of
    # each, and the Patient-level paths left out because they differ between them
    image_sets: tuple[tuple[str, str], ...] = ()
    differs: tuple[str, ...] = ()


def build_spec(origin: Origin, live: Mapping[str, Any], levels: Iterable[str]) -> str:
    """The spec text for ``live``, without the attributes the validator rejects.

    Real archives hold values that break their VR (``StudyDate: "2004"``) or tags this dictionary
    names by keyword (repeating groups such as ``60000010``); the service refuses to write those
    without force, so the spec leaves them out and its comments name them (by path, never value),
    keeping ``validate`` clean and ``plan`` empty.
    """
    desired = desired_from_live(live, levels)
    left_out: list[str] = []
    for _round in range(8):  # each round drops every attribute found; one round is typical
        text = render_spec(origin, desired, left_out)
        bad = _problems(text, live)
        if not bad:
            return text
        for path in bad:
            if delete_at(desired, path):
                left_out.append(format_path(path))
    raise UsageError(f"image set {origin.image_set_id}: could not build a valid spec from its metadata")


def _problems(text: str, live: Mapping[str, Any]) -> list[tuple[str, ...]]:
    """Desired paths of attributes that fail validation, or that would not read back equal to live
    (e.g. numbers inside a private sequence item, whose VR no DICOMVRs map can give)."""
    loaded, diags = load_text(text, "<import>")  # parsed once, for the checks and the read-back
    errors = {_attribute_path(d.path[1:]) for d in validate_loaded("<import>", loaded, diags) if d.severity == "error"}
    if errors:
        return sorted(errors)
    desired = loaded[0].value.get("desired") or {} if loaded else {}
    return sorted({_attribute_path(c.path) for c in diff_image_set(desired, live, force=True)})


def _attribute_path(path: tuple[str, ...]) -> tuple[str, ...]:
    """A desired path cut after the attribute it is about (``...DICOM.KEY``; SQ items are inside it)."""
    for i, part in enumerate(path[:-1]):
        if part in ("DICOM", "DICOMVRs"):
            return path[: i + 2]
    return path


def render_spec(origin: Origin, desired: Mapping[str, Any], left_out: Iterable[str] = ()) -> str:
    """The spec file's text: schema line, provenance comments, target, and the desired tree."""
    lines = [
        f"# yaml-language-server: $schema={origin.schema_ref}",
        *_provenance(origin),
        f"# Levels: {', '.join(origin.levels)}. Values are exactly as live holds them: strings are quoted so",
        "# YAML never retypes them; an empty value is \"\" (or []), since null would mean \"must be absent\".",
        "# Delete what you do not want to manage; edit values to change them.",
        "# This file holds patient data: keep it out of public repositories.",
        *(f"# Left out (invalid for its VR as stored, or not writable exactly in a spec): {p}" for p in left_out),
        *(f"# Left out (the patient's image sets hold different values): {p}" for p in origin.differs),
        "apiVersion: reconciler/v1",
        "kind: ImageSetMetadata",
        *_target(origin),
        "force: false",
    ]
    if desired:
        lines.append("desired:")
        lines += _mapping(desired, 1)
    else:
        lines.append("desired: {}  # nothing at the chosen levels")
    return "\n".join(lines) + "\n"


def _provenance(origin: Origin) -> list[str]:
    if not origin.image_sets:
        return [f"# Imported by `reconciler import` from image set {origin.image_set_id} (datastore "
                f"{origin.datastore_id}), version {origin.version}, at {origin.imported_at}."]
    count = len(origin.image_sets)
    sets = f"{count} image set{'s' if count != 1 else ''}"
    return [f"# Imported by `reconciler import` from the Patient level of the {sets} of one patient (datastore "
            f"{origin.datastore_id}), at {origin.imported_at}:",
            *(f"#   {image_set_id} version {version}" for image_set_id, version in origin.image_sets)]


def _target(origin: Origin) -> list[str]:
    lines = ["target:", f"  datastoreId: {_scalar(origin.datastore_id)}"]
    if origin.select is None:
        return [*lines, f"  imageSetId: {_scalar(origin.image_set_id)}"]
    key, value = origin.select
    why = ("# Targets every image set of the patient by {key} (select), those imported from and any added later."
           if origin.image_sets else
           "# Targets the image set by {key} (select), not by its ID: a replacement gives it a new image set ID.")
    return [why.format(key=key), *lines, "  select:", f"    {_key(key)}: {_scalar(value)}"]


def _key(key: str) -> str:
    return key if _PLAIN_KEY.fullmatch(key) else _quote(key)


def _quote(text: str) -> str:
    """A YAML double-quoted scalar holding exactly ``text`` (JSON's escapes are YAML's too)."""
    body = json.dumps(text, ensure_ascii=False)
    return _UNSAFE.sub(lambda m: f"\\u{ord(m.group()):04x}", body)


def _scalar(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):  # not a DICOM value; kept as its JSON text, quoted
        return _quote(json.dumps(value))
    if isinstance(value, int | float):
        return repr(value)
    return _quote(str(value))


def _mapping(tree: Mapping[str, Any], depth: int) -> list[str]:
    pad = _INDENT * depth
    out: list[str] = []
    for key, value in tree.items():
        head = f"{pad}{_key(str(key))}:"
        if isinstance(value, Mapping) and value:
            out.append(head)
            out += _mapping(value, depth + 1)
        elif isinstance(value, list) and any(isinstance(v, Mapping | list) for v in value):
            out.append(head)
            out += _sequence(value, depth + 1)
        else:
            out.append(f"{head} {_inline(value)}")
    return out


def _sequence(items: list[Any], depth: int) -> list[str]:
    pad = _INDENT * depth
    out: list[str] = []
    for item in items:
        if isinstance(item, Mapping) and item:
            body = _mapping(item, depth + 1)
            out.append(f"{pad}- {body[0].lstrip()}")
            out += body[1:]
        elif isinstance(item, list) and any(isinstance(v, Mapping | list) for v in item):
            out.append(f"{pad}-")
            out += _sequence(item, depth + 1)
        else:
            out.append(f"{pad}- {_inline(item)}")
    return out


def _inline(value: Any) -> str:
    if isinstance(value, Mapping):
        return "{}"
    if isinstance(value, list):
        return "[" + ", ".join(_inline(v) for v in value) + "]"
    return _scalar(value)
