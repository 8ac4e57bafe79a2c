"""reconciler.dicom: DICOM knowledge shared by the emulator, the planner and the validator.

``levels`` (HealthImaging normalisation), ``dictionary`` (pydicom's PS3.6 data dictionary), ``vr``
(value checks per VR/VM), ``normalize`` (DICOM-aware equality), ``constraints`` (update rules and
``force``) and ``phi`` (PS3.15 Annex E). No I/O beyond reading the packaged data tables.
"""
