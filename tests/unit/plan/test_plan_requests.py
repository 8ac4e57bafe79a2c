"""Requests: one per image set, both blobs in it, force only when needed, split only past 10 KB."""

from __future__ import annotations

import json

import pytest

from reconciler.plan.model import Change
from reconciler.plan.requests import PAYLOAD_LIMIT, PayloadTooLarge, build_requests, request_size

PN = ("Patient", "DICOM", "PatientName")
SD = ("Study", "DICOM", "StudyDescription")


def test_one_request_carries_both_blobs_compactly() -> None:
    (req,) = build_requests([Change("change", PN, "A^B", "MX^MX"), Change("remove", SD, "CHEST", None)])
    assert req.updatable == b'{"SchemaVersion":1.1,"Patient":{"DICOM":{"PatientName":"MX^MX"}}}'
    assert req.removable == b'{"SchemaVersion":1.1,"Study":{"DICOM":{"StudyDescription":"CHEST"}}}'
    assert req.force is False


@pytest.mark.parametrize(
    ("checks", "force"),
    [(("ok", "ok"), False), (("ok", "needs force"), True)],
)
def test_force_only_when_a_change_needs_it(checks: tuple[str, str], force: bool) -> None:
    changes = [Change("change", PN, "a", "b", checks[0]),  # type: ignore[arg-type]
               Change("remove", SD, "c", None, checks[1])]  # type: ignore[arg-type]
    (req,) = build_requests(changes)
    assert req.force is force


def test_forbidden_changes_make_no_request() -> None:
    assert build_requests([Change("add", PN, None, "x", "forbidden")]) == ()


def test_new_private_tag_carries_its_vr() -> None:
    path = ("Study", "Series", "1", "Instances", "2", "DICOM", "00191001")
    (req,) = build_requests([Change("add", path, None, "7", "needs force", vr="DS")])
    inst = json.loads(req.updatable or b"")["Study"]["Series"]["1"]["Instances"]["2"]
    assert inst == {"DICOM": {"00191001": "7"}, "DICOMVRs": {"00191001": "DS"}}


def test_node_removal_is_an_empty_object() -> None:
    (req,) = build_requests([Change("remove", ("Study", "Series", "1", "Instances", "2"), None, None, node=True)])
    expected = {"SchemaVersion": 1.1, "Study": {"Series": {"1": {"Instances": {"2": {}}}}}}
    assert json.loads(req.removable or b"") == expected


def _many(n: int, size: int) -> list[Change]:
    return [Change("add", ("Study", "Series", f"1.{i}", "DICOM", "SeriesDescription"), None, "x" * size)
            for i in range(n)]


def test_large_payloads_split_into_chained_requests_under_the_limit() -> None:
    changes = _many(60, 500)
    reqs = build_requests(changes)
    assert len(reqs) > 1
    assert all(request_size(r) <= PAYLOAD_LIMIT for r in reqs)
    series = set()
    for r in reqs:
        series |= set(json.loads(r.updatable or b"")["Study"]["Series"])
    assert series == {f"1.{i}" for i in range(60)}


def test_payload_just_under_the_limit_stays_one_request() -> None:
    (req,) = build_requests(_many(1, PAYLOAD_LIMIT - 200))
    assert request_size(req) <= PAYLOAD_LIMIT


def test_a_single_value_over_the_limit_is_an_error_naming_the_path() -> None:
    with pytest.raises(PayloadTooLarge, match=r"Study\.Series\[1\.0\]\.DICOM\.SeriesDescription"):
        build_requests(_many(1, PAYLOAD_LIMIT + 10))
