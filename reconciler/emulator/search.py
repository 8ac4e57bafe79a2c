"""SearchImageSets: the criteria, what of a document is searchable, and the summaries.

Model (https://docs.aws.amazon.com/healthimaging/latest/APIReference/API_SearchImageSets.html and
its ``SearchCriteria``): 1-2 filters, ANDed; ``EQUAL`` takes one value of a DICOM equality key
(or ``isPrimary``); ``BETWEEN`` takes two values (lower, upper; inclusive) of ``createdAt``,
``updatedAt`` or ``DICOMStudyDateAndTime``. Default sort: ``updatedAt`` DESC. Stored string values are
compared without DICOM's trailing padding (``"1 "`` matches ``"1"``). Times are compared in whole
milliseconds, the precision AWS answers with, so a value read back matches ``BETWEEN [t, t]`` whatever
sub-millisecond digits a client adds.

Nothing here reads a metadata document at search time: what a search needs of the latest document (its
equality values, its study date and time, its summary tags) is extracted when the version is written
(``searchable``) and kept in indexed tables, which ``reconciler.emulator.search_sql`` queries page by page.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from reconciler.emulator.errors import ValidationError
from reconciler.emulator.records import ms
from reconciler.padding import unpad

Doc = dict[str, Any]
_UID_RE = re.compile(r"[0-9.]+")

EQUALITY_KEYS: dict[str, Callable[[Doc], list[str]]] = {
    "DICOMPatientId": lambda d: _one(d, "Patient", "PatientID"),
    "DICOMAccessionNumber": lambda d: _one(d, "Study", "AccessionNumber"),
    "DICOMStudyId": lambda d: _one(d, "Study", "StudyID"),
    "DICOMStudyInstanceUID": lambda d: _one(d, "Study", "StudyInstanceUID"),
    "DICOMSeriesInstanceUID": lambda d: sorted(_series(d)),
}
RANGE_KEYS = ("createdAt", "updatedAt", "DICOMStudyDateAndTime")


@dataclass(frozen=True)
class Query:
    """Validated criteria: equality values, at most one isPrimary, ranges (field, low, high), the sort."""

    equal: tuple[tuple[str, str], ...] = ()
    primary: bool | None = None
    ranges: tuple[tuple[str, Any, Any], ...] = ()
    sort_field: str = "updatedAt"
    descending: bool = True
    echo_sort: dict[str, str] | None = field(default=None, compare=False)


@dataclass(frozen=True)
class Searchable:
    """What a search needs of a document, extracted when its version is written."""

    values: tuple[tuple[str, str], ...]  # (equality key, value), distinct
    study_key: str
    tags: str  # the summary's DICOMTags, as JSON


def searchable(doc: Doc) -> Searchable:
    values = sorted({(key, v) for key, extract in EQUALITY_KEYS.items() for v in extract(doc)})
    dicom = doc.get("Study", {}).get("DICOM", {})
    date = dicom.get("StudyDate")
    key = _study_key(date, dicom.get("StudyTime")) if isinstance(date, str) and date.strip() else ""
    return Searchable(tuple(values), key, json.dumps(dicom_tags(doc), separators=(",", ":")))


def parse(criteria: dict[str, Any]) -> Query:
    """The request body as a Query; ValidationError for anything the model does not allow."""
    if set(criteria) - {"filters", "sort"}:
        raise ValidationError("searchCriteria may only hold filters and sort")
    filters = criteria.get("filters")
    equal: list[tuple[str, str]] = []
    primary: bool | None = None
    ranges: list[tuple[str, Any, Any]] = []
    for item in (_list(filters, "filters", 1, 2) if filters is not None else []):
        kind, parsed = _filter(item)
        if kind == "isPrimary":
            primary = bool(parsed)
        elif kind == "equal":
            equal.append(parsed)
        else:
            ranges.append(parsed)
    sort = criteria.get("sort")
    sort_field, order = ("updatedAt", "DESC") if sort is None else _sort(sort)
    echo = None if sort is None else {"sortField": sort_field, "sortOrder": order}
    return Query(tuple(equal), primary, tuple(ranges), sort_field, order == "DESC", echo)


def scope(criteria: dict[str, Any]) -> str:
    """A short fingerprint of the criteria, so a nextToken cannot be replayed on another query."""
    return "search:" + hashlib.sha256(json.dumps(criteria, sort_keys=True, default=str).encode()).hexdigest()[:16]


def _filter(item: Any) -> tuple[str, Any]:
    if not isinstance(item, dict) or set(item) != {"values", "operator"}:
        raise ValidationError("each filter needs exactly values and operator")
    values = [_single(v) for v in _list(item["values"], "values", 1, 2)]
    if item["operator"] == "EQUAL":
        if len(values) != 1:
            raise ValidationError("EQUAL takes exactly one value")
        return _equal(*values[0])
    if item["operator"] == "BETWEEN":
        if len(values) != 2 or values[0][0] != values[1][0] or values[0][0] not in RANGE_KEYS:
            raise ValidationError("BETWEEN takes two values (lower, upper) of createdAt, updatedAt or "
                                  "DICOMStudyDateAndTime")
        key = values[0][0]
        low, high = (_range_value(key, v) for _, v in values)
        return "range", (key, low, high)
    raise ValidationError("operator must be EQUAL or BETWEEN")


def _equal(key: str, value: Any) -> tuple[str, Any]:
    if key == "isPrimary":
        if not isinstance(value, bool):
            raise ValidationError("isPrimary must be a boolean")
        return "isPrimary", value
    if key not in EQUALITY_KEYS:
        raise ValidationError(f"EQUAL is not supported for {key}")
    if not isinstance(value, str) or len(value) > 512:
        raise ValidationError(f"{key} must be a string of at most 512 characters")
    if key.endswith("UID") and not _UID_RE.fullmatch(value):
        raise ValidationError(f"{key} must match [0-9.]+")
    return "equal", (key, value)


def _single(value: Any) -> tuple[str, Any]:
    if not isinstance(value, dict) or len(value) != 1:
        raise ValidationError("each search value must set exactly one attribute")
    ((key, inner),) = value.items()
    return key, inner


def _list(value: Any, name: str, low: int, high: int) -> list[Any]:
    if not isinstance(value, list) or not low <= len(value) <= high:
        raise ValidationError(f"{name} must be a list of {low} to {high} items")
    return value


def _sort(sort: Any) -> tuple[str, str]:
    if not isinstance(sort, dict) or sort.get("sortField") not in RANGE_KEYS or sort.get("sortOrder") not in (
        "ASC", "DESC"
    ):
        raise ValidationError("sort needs sortField (updatedAt, createdAt, DICOMStudyDateAndTime) and "
                              "sortOrder (ASC, DESC)")
    return str(sort["sortField"]), str(sort["sortOrder"])


def _range_value(key: str, value: Any) -> Any:
    if key == "DICOMStudyDateAndTime":
        if not isinstance(value, dict) or not isinstance(value.get("DICOMStudyDate"), str):
            raise ValidationError("DICOMStudyDateAndTime needs DICOMStudyDate (yyyyMMdd)")
        return _study_key(value["DICOMStudyDate"], value.get("DICOMStudyTime"))
    if isinstance(value, int | float) and not isinstance(value, bool):
        return ms(float(value))
    if isinstance(value, str):
        try:
            return ms(datetime.fromisoformat(value).timestamp())
        except ValueError:
            pass
    raise ValidationError(f"{key} must be a timestamp")


def _study_key(date: str, time: Any) -> str:
    """``yyyyMMdd`` + ``HHmmss`` + 6 fraction digits, so string order is time order."""
    hms, _, frac = (time.strip().replace(":", "") if isinstance(time, str) else "").partition(".")
    return date.strip().replace("-", "")[:8] + hms.ljust(6, "0")[:6] + frac.ljust(6, "0")[:6]


# -- summaries ------------------------------------------------------------------------------------


def dicom_tags(doc: Doc) -> dict[str, Any]:
    patient = doc.get("Patient", {}).get("DICOM", {})
    study = doc.get("Study", {}).get("DICOM", {})
    series = doc.get("Study", {}).get("Series", {})
    first: dict[str, Any] = next(iter(series.values())).get("DICOM", {}) if series else {}
    tags: dict[str, Any] = {
        "DICOMPatientId": patient.get("PatientID"),
        "DICOMPatientName": patient.get("PatientName"),
        "DICOMPatientBirthDate": patient.get("PatientBirthDate"),
        "DICOMPatientSex": patient.get("PatientSex"),
        "DICOMStudyInstanceUID": study.get("StudyInstanceUID"),
        "DICOMStudyId": study.get("StudyID"),
        "DICOMStudyDescription": study.get("StudyDescription"),
        "DICOMAccessionNumber": study.get("AccessionNumber"),
        "DICOMStudyDate": study.get("StudyDate"),
        "DICOMStudyTime": study.get("StudyTime"),
        "DICOMSeriesInstanceUID": next(iter(series), None),
        "DICOMSeriesModality": first.get("Modality"),
        "DICOMSeriesBodyPart": first.get("BodyPartExamined"),
    }
    tags = {k: v for k, v in tags.items() if isinstance(v, str)}
    tags["DICOMNumberOfStudyRelatedSeries"] = len(series)
    tags["DICOMNumberOfStudyRelatedInstances"] = sum(len(s.get("Instances", {})) for s in series.values())
    number = first.get("SeriesNumber")
    if isinstance(number, str | int) and str(number).strip().lstrip("-").isdigit():
        tags["DICOMSeriesNumber"] = int(str(number).strip())
    return tags


def _one(doc: Doc, level: str, keyword: str) -> list[str]:
    value = doc.get(level, {}).get("DICOM", {}).get(keyword)
    return [unpad(value)] if isinstance(value, str) else []


def _series(doc: Doc) -> set[str]:
    found = set()
    for uid, series in doc.get("Study", {}).get("Series", {}).items():
        found.add(uid)
        value = series.get("DICOM", {}).get("SeriesInstanceUID")
        if isinstance(value, str):
            found.add(unpad(value))
    return found
