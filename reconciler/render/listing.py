"""A datastore's image sets as a table (``reconciler ls``, and ``make demo``) or as JSON.

The table shows no patient values: its columns are IDs, versions, states and attributes that identify
nobody (decided per attribute by ``reconciler.dicom.phi``, PS3.15 Annex E). ``--show-phi`` adds the
patient ID and name; in JSON the search summary's DICOM tags are redacted like plan values.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from reconciler.dicom.phi import is_phi
from reconciler.plan.inventory import INSTANCES_TAG, SERIES_TAG, ImageSetRow
from reconciler.render.common import plural
from reconciler.render.redact import Redactor

# DICOMTags of a SearchImageSets summary -> the DICOM keyword whose rules apply to its value
# (https://docs.aws.amazon.com/healthimaging/latest/APIReference/API_DICOMTags.html)
TAG_KEYWORDS = {
    "DICOMPatientId": "PatientID",
    "DICOMPatientName": "PatientName",
    "DICOMPatientBirthDate": "PatientBirthDate",
    "DICOMPatientSex": "PatientSex",
    "DICOMStudyInstanceUID": "StudyInstanceUID",
    "DICOMStudyId": "StudyID",
    "DICOMStudyDescription": "StudyDescription",
    "DICOMAccessionNumber": "AccessionNumber",
    "DICOMStudyDate": "StudyDate",
    "DICOMStudyTime": "StudyTime",
    "DICOMSeriesInstanceUID": "SeriesInstanceUID",
    "DICOMSeriesModality": "Modality",
    "DICOMSeriesBodyPart": "BodyPartExamined",
    "DICOMSeriesNumber": "SeriesNumber",
}
_SHOWN = ("DICOMSeriesModality", "DICOMSeriesBodyPart")  # table columns, when they identify nobody
_PHI_COLUMNS = ("DICOMPatientId", "DICOMPatientName")  # added by --show-phi
_HEADERS = {"DICOMSeriesModality": "modality", "DICOMSeriesBodyPart": "body part",
            "DICOMPatientId": "patient ID", "DICOMPatientName": "patient name"}
_NUMERIC = {"version", "series", "instances"}


def listing_lines(datastore_id: str, rows: Sequence[ImageSetRow], redactor: Redactor, *, counted: bool) -> list[str]:
    """A heading and one line per image set, columns aligned."""
    counts = "counted in the metadata" if counted else "as SearchImageSets reports them"
    out = [f"Datastore {datastore_id}: {plural(len(rows), 'image set')} (series and instances {counts})"]
    if not rows:
        return out
    tags = [t for t in _SHOWN if not is_phi(TAG_KEYWORDS[t])]
    if redactor.show_phi:
        tags += list(_PHI_COLUMNS)
    headers = ["image set ID", "version", "state", "primary", "storage tier", "series", "instances"]
    headers += [_HEADERS[t] for t in tags]
    table = [headers] + [_cells(r, tags) for r in rows]
    widths = [max(len(line[i]) for line in table) for i in range(len(headers))]
    out.append("")
    for line in table:
        cells = [c.rjust(w) if h in _NUMERIC else c.ljust(w) for c, w, h in zip(line, widths, headers, strict=True)]
        out.append("  " + "  ".join(cells).rstrip())
    return out


def _cells(row: ImageSetRow, tags: Sequence[str]) -> list[str]:
    info = row.info
    primary = "-" if info.is_primary is None else ("yes" if info.is_primary else "no")
    cells = [info.image_set_id, info.version_id, info.state, primary, info.storage_tier or "-",
             _number(row.series), _number(row.instances)]
    return cells + [_text(row.tags.get(t)) for t in tags]


def listing_json(
    datastore_id: str, rows: Sequence[ImageSetRow], redactor: Redactor, *, counted: bool
) -> dict[str, Any]:
    return {
        "datastoreId": datastore_id,
        "count": len(rows),
        "countsFrom": "metadata" if counted else "search",
        "image_sets": [_row_json(r, redactor) for r in rows],
    }


def _row_json(row: ImageSetRow, redactor: Redactor) -> dict[str, Any]:
    info = row.info
    return {
        "imageSetId": info.image_set_id,
        "versionId": info.version_id,
        "state": info.state,
        "workflowStatus": info.workflow_status,
        "isPrimary": info.is_primary,
        "storageTier": info.storage_tier,
        "series": row.series,
        "instances": row.instances,
        "createdAt": _iso(info.created_at),
        "updatedAt": _iso(info.updated_at),
        "dicomTags": redacted_tags(row.tags, redactor),
    }


def redacted_tags(tags: Mapping[str, Any], redactor: Redactor) -> dict[str, Any]:
    """The summary's DICOM tags as they may be shown (a tag we do not know is redacted: fail closed)."""
    return {key: redactor.value(TAG_KEYWORDS.get(key, key), value)
            for key, value in sorted(tags.items()) if key not in (SERIES_TAG, INSTANCES_TAG)}


def _number(value: int | None) -> str:
    return "-" if value is None else str(value)


def _text(value: Any) -> str:
    return "-" if value is None or value == "" else str(value).strip() or "-"


def _iso(stamp: float | None) -> str | None:
    return None if stamp is None else datetime.fromtimestamp(stamp, UTC).isoformat().replace("+00:00", "Z")
