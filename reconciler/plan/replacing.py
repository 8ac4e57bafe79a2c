"""Replacement at plan time: when a primary image set's refused changes become a replacement.

A primary image set refuses Patient- and Series-level changes and forced UID changes; AWS documents the
way round for primary image sets: copy it to a non-primary image set, update the copy, delete the primary,
copy the copy with ``promoteToPrimary`` (a new image set ID), delete the temporary copy
(https://docs.aws.amazon.com/healthimaging/latest/devguide/update-image-set-metadata.html). The planner
does that only where every document that asks for a refused change opted in with ``replace: allow``;
otherwise the change stays a plan error whose message names the key.

The copy is not primary, so every change is checked again as for a non-primary image set: what the
primary refused becomes ``ok``, or ``needs force`` (a forced UID change) that the document's ``force:
true`` must give. All of the image set's changes then go to the copy, as ordinary requests: a replaced
image set takes no part in a study-wide request (``reconciler.plan.study`` keeps it out).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import Any

from reconciler.plan import rules
from reconciler.plan.model import Change
from reconciler.spec.model import SpecDocument

KEY = "replace: allow"


def replaceable(changes: Sequence[Change], origin: Mapping[Any, SpecDocument]) -> bool:
    """Whether CHANGES (of a primary image set) make a replacement: some are refused on the primary, and
    every document asking for one of those allows replacement."""
    refused = [c for c in changes if c.check == "refused on primary"]
    return bool(refused) and all(origin[c.path].replace is not None for c in refused)


def on_copy(change: Change) -> Change:
    """CHANGE as the non-primary copy takes it: a refused change is checked again without the primary rule."""
    if change.check != "refused on primary":
        return change
    if change.node:  # a whole series removed: a non-primary image set takes it
        return replace(change, check="ok", reason=None)
    reason = rules.force_reason(change.path[-1], change.before, change.after, change.vr)
    return replace(change, check="needs force" if reason else "ok", reason=reason)


def replace_hint(doc: SpecDocument) -> str:
    """What the message of a refused change says to do about it."""
    if doc.replace is not None:  # another document's refused change blocks it
        return "every document asking for such a change must allow the replacement"
    return (f"add `{KEY}` to the document ({doc.file}:{doc.line}) to replace the image set instead: copy, "
            "update the copy, delete the primary, promote the copy (the image set ID changes)")
