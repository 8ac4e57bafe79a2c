"""Layer 2: the JSON Schema (Draft 2020-12) of spec format v1, with errors mapped to file:line:col.

The schema ships inside the package (``reconciler/schemas/spec.schema.json``; a test keeps the
top-level ``schemas/`` copy for editors identical). Messages are written here from the failing rule
and the schema, never from jsonschema's own text, which quotes the instance (possibly patient data).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from functools import cache
from importlib import resources
from typing import TYPE_CHECKING, Any

from reconciler.dicom.dictionary import suggest
from reconciler.spec.loader import LoadedDocument
from reconciler.spec.model import Diagnostic, Path
from reconciler.spec.placement import did_you_mean, misplaced

if TYPE_CHECKING:  # at run time imported by _validator: commands that read no spec skip its ~0.1 s start-up
    from jsonschema import Draft202012Validator, ValidationError

SCHEMA_RESOURCE = "schemas/spec.schema.json"


@cache
def spec_schema() -> dict[str, Any]:
    """The spec JSON Schema, as shipped in the package."""
    text = resources.files("reconciler").joinpath(SCHEMA_RESOURCE).read_text("utf-8")
    schema: dict[str, Any] = json.loads(text)
    return schema


@cache
def _validator() -> Draft202012Validator:
    from jsonschema import Draft202012Validator

    return Draft202012Validator(_linked(spec_schema()), format_checker=Draft202012Validator.FORMAT_CHECKER)


def _linked(schema: dict[str, Any]) -> dict[str, Any]:
    """A copy of SCHEMA where each ``{"$ref": "#/$defs/NAME"}`` is the definition NAME itself (one shared
    object: ``value`` and ``dicom``, which refer to each other, become a cycle).

    A ``$ref`` applies the schema it names to the instance, and the result is that schema's
    (https://json-schema.org/draft/2020-12/json-schema-core#section-8.2.3.1): the same errors, at the same
    instance and schema paths (jsonschema leaves ``$ref`` out of the latter). jsonschema resolves a
    reference at every use, once per DICOM attribute of a spec; the linked schema about halves the time
    of the check of a big spec. Only the validator gets it: ``spec_schema()`` stays plain JSON.
    """
    root: dict[str, Any] = json.loads(json.dumps(schema))
    defs: dict[str, Any] = root["$defs"]
    pending: list[Any] = [root]
    seen: set[int] = set()
    while pending:
        node = pending.pop()
        if id(node) in seen:
            continue
        seen.add(id(node))
        slots = node.items() if isinstance(node, dict) else enumerate(node) if isinstance(node, list) else ()
        for key, child in list(slots):
            if isinstance(child, dict) and child.keys() == {"$ref"} and str(child["$ref"]).startswith("#/$defs/"):
                node[key] = child = defs[child["$ref"].removeprefix("#/$defs/")]
            pending.append(child)
    return root


def check_schema(doc: LoadedDocument) -> list[Diagnostic]:
    """Every schema violation of one document, each at the line of the key it is about."""
    found: list[tuple[Path, str]] = []
    for error in _validator().iter_errors(doc.value):
        found.extend(_explain(error, tuple(str(p) for p in error.absolute_path)))
    # a key written at the wrong place: say where it belongs, not what is wrong inside it
    moved = {where for where, message in found if where and message == misplaced(where[-1], where[:-1])}
    out: list[Diagnostic] = []
    for where, message in found:
        if not any(where[:n] in moved for n in range(1, len(where))):
            pos = doc.position(where)
            out.append(Diagnostic(doc.file, pos.line, pos.column, where, message))
    # jsonschema reports "required" once per missing key, each listing them all: keep one of each
    return sorted(dict.fromkeys(out), key=lambda d: (d.line, d.column, d.message))


def _explain(error: ValidationError, path: Path) -> Iterator[tuple[Path, str]]:
    """(path, message) pairs for one jsonschema error; several for several missing/unknown keys."""
    kind, rule, instance = error.validator, error.validator_value, error.instance
    if len(path) > 1 and path[-2] == "DICOM" and misplaced(path[-1], path[:-1]):
        return  # a spec key inside a DICOM map: the DICOM layer (semantics) says where it belongs
    if "propertyNames" in error.relative_schema_path:
        yield (*path, str(instance)), misplaced(str(instance), path) or _bad_key(path, str(kind))
    elif kind == "required" and isinstance(instance, dict) and isinstance(rule, list):
        for key in rule:
            if key not in instance and not _misspelt(key, instance, error.schema):
                yield path, f"missing required key `{key}`"
    elif kind == "additionalProperties" and isinstance(instance, dict):
        known = sorted(error.schema.get("properties", {})) if isinstance(error.schema, dict) else []
        for key in instance:
            if key not in known:
                hint = did_you_mean(str(key), known) or (f" (expected: {', '.join(known)})" if known else "")
                yield (*path, str(key)), misplaced(str(key), path) or f"unknown key `{key}`{hint}"
    elif kind == "dependentRequired" and isinstance(instance, dict) and isinstance(rule, dict):
        for key, needs in rule.items():
            if key in instance:
                missing = ", ".join(f"`{n}`" for n in needs if n not in instance)
                yield (*path, str(key)), f"`{key}` applies only together with {missing}"
    elif path and path[-1] == "target" and kind == "oneOf" and isinstance(instance, dict):
        if any(_misspelt(key, instance, error.schema) for key in ("imageSetId", "select")):
            return  # the misspelt key's "did you mean" says it
        both = "imageSetId" in instance and "select" in instance
        yield path, "target needs either `imageSetId` or `select`, not both" if both else \
            "target needs `imageSetId` or `select`"
    else:
        yield path, _MESSAGES.get(str(kind), _fallback)(rule, path)


def _misspelt(key: str, instance: dict[str, Any], schema: Any) -> bool:
    """Whether ``instance`` lacks ``key`` but has an unknown key whose "did you mean" names it."""
    known = list(schema.get("properties", {})) if isinstance(schema, dict) else []
    return key not in instance and any(suggest(str(k), known) == key for k in instance if k not in known)


def _bad_key(path: Path, kind: str) -> str:
    parent = path[-1] if path else ""
    if parent in {"Series", "Instances"}:
        return f"{parent} keys must be DICOM UIDs (digits and dots, at most 64 characters)"
    if parent == "DICOM":
        return "attribute keys must be DICOM keywords (PatientName) or 8-hex-digit tags (00091001)"
    if parent == "DICOMVRs":
        return "DICOMVRs keys must be 8-hex-digit tags (00091001)"
    if parent == "select":
        return "select key must be one of DICOMPatientId, DICOMAccessionNumber, DICOMStudyId, " \
               "DICOMStudyInstanceUID, DICOMSeriesInstanceUID"
    return f"key not allowed here ({kind})"


def _type_message(rule: Any, path: Path) -> str:
    names = {"object": "a mapping", "array": "a list", "string": "a string", "number": "a number",
             "boolean": "true or false", "null": "null", "integer": "an integer"}
    types = rule if isinstance(rule, list) else [rule]
    return "must be " + " or ".join(names.get(str(t), str(t)) for t in types)


def _fallback(rule: Any, path: Path) -> str:
    return "does not match the spec schema"


_MESSAGES: dict[str, Any] = {
    "type": _type_message,
    "const": lambda rule, path: f"must be `{rule}`",
    "pattern": lambda rule, path: "must be 32 lower-case letters or digits"
    if path and path[-1] in {"datastoreId", "imageSetId"} else "has an invalid form",
    "enum": lambda rule, path: "must be a DICOM VR (e.g. LO, DS, US)"
    if len(path) > 1 and path[-2] == "DICOMVRs" else "must be one of " + ", ".join(f"`{v}`" for v in rule)
    if path == ("replace",) else "is not one of the allowed values",
    "minLength": lambda rule, path: "must not be empty",
    "maxLength": lambda rule, path: f"is longer than {rule} characters",
    "minProperties": lambda rule, path: "select needs one KEY: VALUE" if path[-1:] == ("select",)
    else f"needs at least {rule} entries",
    "maxProperties": lambda rule, path: "select takes exactly one KEY: VALUE" if path[-1:] == ("select",)
    else f"takes at most {rule} entries",
    "anyOf": lambda rule, path: "must be a string, a number, a list or null (a DICOM value)",
}
