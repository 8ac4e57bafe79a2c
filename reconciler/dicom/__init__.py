"""reconciler.dicom: DICOM knowledge shared by the emulator, the planner and the validator.

``levels`` (HealthImaging normalisation), ``dictionary`` (pydicom's PS3.6 data dictionary), ``vr``
(value checks per VR/VM), ``normalize`` (DICOM-aware equality), ``constraints`` (update rules and
``force``), ``phi`` (PS3.15 Annex E) and ``tree`` (the metadata tree's levels and paths). No I/O
beyond reading the packaged data tables.
"""
