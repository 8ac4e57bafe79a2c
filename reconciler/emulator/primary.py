"""Primary image sets in UpdateImageSetMetadata: what a primary refuses, and study-wide updates.

The rules are ``reconciler.dicom.primary``'s (the planner checks the same ones), each from the
update-image-set-metadata page (https://docs.aws.amazon.com/healthimaging/latest/devguide/update-image-set-metadata.html),
each refused with a 400 ValidationException naming the rule, the page and the path (never a value), and
each with a knob (``reconciler.emulator.knobs``) in case AWS turns out more lenient than the conservative
reading:

- Patient- and Series-level elements and the three UIDs (``lenient_primary`` lifts every rule here);
- ``force``, which the page scopes to non-primary image sets (``lenient_primary_force``);
- a whole series removed: the newer page allows removing "individual SOP Instances" only
  (``lenient_series_removal``); one instance stays allowed.

``includeStudyImageSets``: "update all the primary image sets that share the same Study Instance UID
as the requested image set. This is an atomic operation, and the versions of all affected image sets
will be incremented." It "is not supported with revertToVersionId". ``study_outcome`` builds the new
versions of all of them at once: if the update fails on any one (a series it names is not there),
every one of them ends UPDATE_FAILED with the previous content, so the study stays consistent. How a
non-primary requested image set is treated is not documented; the emulator refuses it (400), since the
flag is about keeping primaries consistent.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from reconciler.dicom import primary
from reconciler.dicom.tree import all_attributes as attributes
from reconciler.emulator.errors import ValidationError
from reconciler.emulator.knobs import EmulatorConfig
from reconciler.emulator.records import NewVersion
from reconciler.emulator.updates import UpdateFailed, apply_updates

Tree = dict[str, Any]


def check_primary(image_set_id: str, trees: dict[str, Tree | None], *, force: bool,
                  config: EmulatorConfig) -> None:
    """Raise ValidationError when an update (its TREES by blob name, FORCE) breaks a rule of primary image
    sets that CONFIG does not lift."""
    if config.lenient_primary:
        return
    for member, tree in trees.items():
        for attr in attributes(tree or {}):
            reason = primary.attribute_reason(attr.key, attr.level)
            if reason is not None:
                raise ValidationError(f"image set {image_set_id} is a primary image set: {reason} "
                                      f"({member} {'.'.join(attr.path)}; {primary.UPDATE_PAGE})")
    if force and not config.lenient_primary_force:
        raise ValidationError(f"image set {image_set_id} is a primary image set: {primary.FORCE_REASON} "
                              f"({primary.UPDATE_PAGE})")
    series = ((trees.get("removableAttributes") or {}).get("Study") or {}).get("Series")
    if isinstance(series, dict) and not config.lenient_series_removal:
        for uid, node in series.items():
            if node == {}:
                raise ValidationError(f"image set {image_set_id} is a primary image set: "
                                      f"{primary.SERIES_REMOVAL_REASON} (removableAttributes Study.Series.{uid[:80]}; "
                                      f"{primary.UPDATE_PAGE})")


def study_outcome(
    updatable: Tree | None, removable: Tree | None, *, force: bool, injected_failure: bool
) -> Callable[[list[Tree]], list[NewVersion]]:
    """The store callback of a study-wide update: every document changes, or every one ends UPDATE_FAILED."""

    def build(documents: list[Tree]) -> list[NewVersion]:
        if injected_failure:
            return [NewVersion(doc, "UPDATE_FAILED", "INTERNAL_FAILURE: injected update_failed fault", force)
                    for doc in documents]
        try:
            changed = [apply_updates(doc, updatable, removable) for doc in documents]
        except UpdateFailed as failed:
            message = str(failed)[:2048]
            return [NewVersion(doc, "UPDATE_FAILED", message, force) for doc in documents]
        return [NewVersion(doc, "UPDATED", None, force) for doc in changed]

    return build
