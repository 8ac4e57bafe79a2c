"""The padding of DICOM string values, in one place.

DICOM pads every value to an even length: a UID (VR UI) with a trailing NUL, other string VRs with a
trailing space, and the padding is not part of the value (PS3.5 section 6.2,
https://dicom.nema.org/medical/dicom/current/output/chtml/part05/sect_6.2.html). HealthImaging keeps what
the P10 file held, so a StudyInstanceUID may arrive as ``"1.2.3\\x00"``; a search for it, a comparison
with it or a key made from it uses the value without its padding.

The module sits below every other one (it imports nothing), so the API values, the emulator, the planner
and the renderers share it.
"""

from __future__ import annotations

PADDING = " \x00"  # trailing space (string VRs) and NUL (UI)


def unpad(value: str) -> str:
    """VALUE without its trailing DICOM padding (spaces and NULs)."""
    return value.rstrip(PADDING)


def unpadded(value: object) -> str | None:
    """A string VALUE without its padding; None when it is not a string or nothing is left."""
    return (unpad(value) or None) if isinstance(value, str) else None
