"""The text of an ADT spec file: where each change came from (comments a pull request shows), then one
document per target, all with the same desired Patient values.

Strings are written double-quoted (JSON's escapes are YAML's too), so YAML's implicit typing never turns a
birth date into a number or a sex of ``N`` into false. The first comment line after the schema line names
the file's subject (the patient whose image sets change, by ID and issuer), so that the next message about
the same patient updates this file instead of writing a second, conflicting one.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from reconciler.adt.resolve import Target

SUBJECT_PREFIX = "# adt-subject: "
SOURCE_PREFIX = "# ADT "
_UNSAFE = re.compile("[\x7f-\x9f\u2028\u2029\ufeff\ufffe\uffff\ud800-\udfff]")


@dataclass(frozen=True)
class SpecFile:
    """Everything an ADT spec file says."""

    subject: str  # e.g. 'update {"id": "P1", "issuer": "HOSP"}': kind and identifier, as JSON
    sources: tuple[str, ...]  # one line per message: event, control ID, time, what it manages
    datastore_id: str
    targets: tuple[Target, ...]
    attributes: Mapping[str, str | None]
    replace: bool
    schema_ref: str


def quote(text: str) -> str:
    """A YAML double-quoted scalar holding exactly TEXT."""
    return _UNSAFE.sub(lambda m: f"\\u{ord(m.group()):04x}", json.dumps(text, ensure_ascii=False))


def source_line(event: str, control_id: str, time: str, attributes: Iterable[str]) -> str:
    names = ", ".join(attributes) or "nothing"
    return f"{event} control ID {quote(control_id)} at {quote(time or 'unknown')}: {names}"


def render(spec: SpecFile) -> str:
    head = [
        f"# yaml-language-server: $schema={spec.schema_ref}",
        SUBJECT_PREFIX + spec.subject,
        "# Written by `reconciler adt` from HL7 v2 ADT messages (review it like any spec). It holds patient",
        "# data: keep it where patient data may be kept. The messages it comes from, oldest first:",
        *(SOURCE_PREFIX + line for line in spec.sources),
    ]
    body = [_document(spec, target) for target in spec.targets]
    return "\n".join(head) + "\n" + "---\n".join(body)


def _document(spec: SpecFile, target: Target) -> str:
    lines = ["apiVersion: reconciler/v1", "kind: ImageSetMetadata", "target:",
             f"  datastoreId: {quote(spec.datastore_id)}"]
    if target.select is not None:
        lines += ["  select:", f"    {target.select[0]}: {quote(target.select[1])}"]
    else:
        lines.append(f"  imageSetId: {quote(target.image_set_id or '')}")
    if spec.replace:
        lines.append("replace: allow")
    lines += ["desired:", "  Patient:", "    DICOM:"]
    lines += [f"      {name}: {'null' if value is None else quote(value)}" for name, value in spec.attributes.items()]
    return "\n".join(lines) + "\n"
