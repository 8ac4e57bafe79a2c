"""The documented DICOM metadata constraints on UpdateImageSetMetadata, enforced by the emulator.

Source: https://docs.aws.amazon.com/healthimaging/latest/devguide/dicom-metadata-constraints.html
(reference section 2.3). Which failures are synchronous and which are asynchronous is not documented;
the emulator decides by what the check needs to see:

- Checks on the request alone fail synchronously with 400 ValidationException, since the service can
  reject them before accepting the update: the payload's shape, HealthImaging-generated attributes
  (rule 2, even with ``force``), cross-level placement (rule 8: "the request can be invalidated", even
  with ``force``), and changes that need ``force`` (rules 1, 3-7: UIDs, StudyID, private tags, SQ,
  multi-valued, VR-incompatible or non-standard attributes) when it was not given.
- Checks that need the stored document run when the update is applied, after the 200: an attribute
  or removal for a series or instance that is not in the image set (rule 9) ends ``UPDATE_FAILED`` with
  a ``message`` and the new version keeps the previous content. AWS shows the same pattern for
  CopyImageSet (``COPY_FAILED``, "INVALID_REQUEST: Series of SourceImageSet and DestinationImageSet
  don't match.", list-image-set-versions CLI example). See ``updates.apply_updates``.

The primary-image-set restrictions are enforced separately (``primary.py``). Removal values are not
compared with the stored values (undocumented; clients should send the current value, and the
reconciler does).
"""

from __future__ import annotations

from typing import Any

from reconciler.dicom.constraints import force_reason, is_generated
from reconciler.dicom.levels import level_of
from reconciler.dicom.tree import all_attributes
from reconciler.emulator.errors import ValidationError


def check_request(tree: dict[str, Any], member: str, *, force: bool, removal: bool) -> None:
    """Raise ValidationError (400) for the first request-only constraint this payload breaks."""
    for attr in all_attributes(tree):
        where = f"{member} {'.'.join(attr.path)}"
        if is_generated(attr.key):
            raise ValidationError(f"{where}: HealthImaging-generated attributes cannot be updated")
        home = level_of(attr.key)
        if home != attr.level:
            raise ValidationError(f"{where}: attribute belongs at the {home} level, not {attr.level}")
        # A removal only checks the key-based rules (UIDs, private tags); its value is not compared.
        reason = force_reason(attr.key, attr.vr, None if removal else attr.value)
        if reason and not force:
            raise ValidationError(f"{where}: needs force: {reason}")

