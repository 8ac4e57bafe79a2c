"""The SOP instances a replacement must keep, as counts and keyed digests (never the UIDs themselves).

UIDs identify patients (DICOM PS3.15 Annex E lists them), so the journal records how many instances an
image set holds and an HMAC-SHA256 of their sorted ``series/instance`` keys under a salt drawn for the
replacement (kept beside it): two image sets holding the same instances give the same digest under the
same salt, and the digest tells nothing of the UIDs.
https://dicom.nema.org/medical/dicom/current/output/chtml/part15/chap_E.html

What the promoted image set must hold is the original's instances as the plan leaves them: without the
series and instances the plan removes, and under their new keys where a forced SeriesInstanceUID or
SOPInstanceUID change re-keys them (the metadata maps are keyed by those UIDs).
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping
from typing import Any

from reconciler.plan.model import ImageSetPlan

Keys = frozenset[tuple[str, str]]  # (series UID, SOP instance UID)


def instance_keys(document: Mapping[str, Any]) -> Keys:
    """Every (series, instance) key of a metadata document."""
    study = document.get("Study")
    series = study.get("Series") if isinstance(study, Mapping) else None
    out: set[tuple[str, str]] = set()
    for s, node in (series or {}).items() if isinstance(series, Mapping) else ():
        instances = node.get("Instances") if isinstance(node, Mapping) else None
        if isinstance(instances, Mapping):
            out.update((str(s), str(i)) for i in instances)
    return frozenset(out)


def expected_after(keys: Keys, plan: ImageSetPlan) -> Keys:
    """KEYS as the plan's changes leave them (removed nodes dropped, re-keyed ones renamed)."""
    out = set(keys)
    for c in plan.changes:
        p = c.path
        if c.op == "remove" and c.node and len(p) == 3:
            out = {k for k in out if k[0] != p[2]}
        elif c.op == "remove" and c.node and len(p) == 5:
            out.discard((p[2], p[4]))
        elif c.op in ("add", "change") and p[-2:] == ("DICOM", "SeriesInstanceUID") and len(p) == 5:
            out = {(str(c.after) if s == p[2] else s, i) for s, i in out}
    for c in plan.changes:  # instances after series: a change's path names its series by the old UID
        p = c.path
        if c.op in ("add", "change") and p[-2:] == ("DICOM", "SOPInstanceUID") and len(p) == 7:
            out = {(s, str(c.after) if i == p[4] else i) for s, i in out}
    return frozenset(out)


def digest(keys: Keys, salt: str) -> str:
    """HMAC-SHA256 of the sorted keys under SALT (hex): equal sets, equal digests."""
    mac = hmac.new(bytes.fromhex(salt), digestmod=hashlib.sha256)
    for s, i in sorted(keys):
        mac.update(f"{s}/{i}\n".encode())
    return mac.hexdigest()
