"""Targets that will not find their image set after a replacement.

Promoting the copy of a replaced primary image set gives it a new image set ID
(https://docs.aws.amazon.com/healthimaging/latest/devguide/update-image-set-metadata.html): a document
that names the old ID by ``target.imageSetId`` then targets an image set that no longer exists. A
``select`` target (``DICOMStudyInstanceUID``, ...) finds the promoted image set by its metadata and needs
nothing. The commands that plan call ``retargets`` after planning and keep the result in ``Plan.retargets``,
where every renderer shows it.
"""

from __future__ import annotations

from collections.abc import Sequence

from reconciler.plan.model import Plan
from reconciler.plan.runinfo import Retarget
from reconciler.spec.model import SpecDocument

__all__ = ["Retarget", "retargets"]


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
