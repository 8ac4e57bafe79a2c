"""Primary image sets in UpdateImageSetMetadata: what a primary refuses, and study-wide updates.

The update-image-set-metadata page
(https://docs.aws.amazon.com/healthimaging/latest/devguide/update-image-set-metadata.html):

- "The Patient and Series level metadata elements can not be updated for primary image sets. The
  UpdateImageSet will not support --force to update StudyInstanceUID, SeriesInstanceUID, and
  SOPInstanceUID for primary image sets." ``check_primary`` refuses those with a 400
  ValidationException naming the level or the attribute (never a value), in both blobs. Removing a whole
  series or instance node is not an element update and stays allowed. ``EmulatorConfig.lenient_primary``
  turns the rule off, in case AWS is more lenient than its page.
- ``includeStudyImageSets``: "update all the primary image sets that share the same Study Instance UID
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

from reconciler.dicom.tree import all_attributes as attributes
from reconciler.emulator.errors import ValidationError
from reconciler.emulator.records import NewVersion
from reconciler.emulator.updates import UpdateFailed, apply_updates

PRIMARY_PAGE = "https://docs.aws.amazon.com/healthimaging/latest/devguide/update-image-set-metadata.html"
REFUSED_LEVELS = ("Patient", "Series")
# The UIDs a forced update may not change on a primary, by keyword and by tag.
REFUSED_UIDS = frozenset({"StudyInstanceUID", "SeriesInstanceUID", "SOPInstanceUID",
                          "0020000D", "0020000E", "00080018"})
Tree = dict[str, Any]


def check_primary(image_set_id: str, trees: dict[str, Tree | None]) -> None:
    """Raise ValidationError when the update TREES (by blob name) would break a primary image set's rules."""
    for member, tree in trees.items():
        for attr in attributes(tree or {}):
            where = f"{member} {'.'.join(attr.path)}"
            if attr.key.upper() in REFUSED_UIDS or attr.key in REFUSED_UIDS:
                raise ValidationError(
                    f"image set {image_set_id} is a primary image set: {attr.key} cannot be updated, even with"
                    f" force ({where})"
                )
            if attr.level in REFUSED_LEVELS:
                raise ValidationError(
                    f"image set {image_set_id} is a primary image set: {attr.level} level metadata elements"
                    f" cannot be updated ({where})"
                )


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
