"""Targets that will not find their image set after a replacement.

Promoting the copy of a replaced primary image set gives it a new image set ID
(https://docs.aws.amazon.com/healthimaging/latest/devguide/update-image-set-metadata.html): a document
that names the old ID by ``target.imageSetId`` then targets an image set that no longer exists. A
``select`` target (``DICOMStudyInstanceUID``, ...) finds the promoted image set by its metadata and needs
nothing. The commands that plan call ``retargets`` after planning and keep the result in the plan's
``meta`` (``RETARGET``), where every renderer shows it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from reconciler.plan.model import Plan
from reconciler.spec.model import SpecDocument

RETARGET = "retarget"  # the key of ``Plan.meta`` that holds them


@dataclass(frozen=True)
class Retarget:
    """A document whose ``target.imageSetId`` names an image set the plan replaces (IDs and file:line only)."""

    source: str  # "file:line" of the document's target.imageSetId
    datastore_id: str
    image_set_id: str

    def message(self) -> str:
        return (f"{self.source}: target.imageSetId: image set {self.image_set_id} is replaced, and its promoted "
                "copy gets a new image set ID (known after apply), so this target will not find it. Re-target "
                "it: `select: {DICOMStudyInstanceUID: ...}` finds the new image set (`reconciler import "
                "--target-by study` writes such a spec), or set imageSetId to the new ID that apply reports.")


def retargets(plan: Plan, docs: Sequence[SpecDocument]) -> tuple[Retarget, ...]:
    """Every document of DOCS that names by ID an image set PLAN replaces, in document order."""
    replaced = {(p.datastore_id, p.image_set_id) for p in plan.image_sets if p.action == "replace"}
    out = []
    for doc in docs:
        t = doc.target
        if t.image_set_id is not None and (t.datastore_id, t.image_set_id) in replaced:
            pos = doc.target_position(("imageSetId",))
            out.append(Retarget(f"{pos.file}:{pos.line}", t.datastore_id, t.image_set_id))
    return tuple(out)


def plan_retargets(plan: Plan) -> tuple[Retarget, ...]:
    """The re-target warnings kept in PLAN (none for a plan made without its specs)."""
    found = plan.meta.get(RETARGET, ())
    return tuple(r for r in found if isinstance(r, Retarget))
