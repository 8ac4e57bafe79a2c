"""The ADT feed: HL7 v2 A08/A31/A40/A47 messages become reviewable specs (``reconciler adt read`` and
``reconciler adt listen``). ``messages`` parses, ``mapping`` maps PID/MRG to DICOM, ``resolve`` finds the
image sets, ``render`` and ``folder`` write the spec files, ``feed`` ties them together for one message,
``ack`` and ``listener`` speak MLLP."""
