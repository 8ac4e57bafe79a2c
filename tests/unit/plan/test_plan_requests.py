"""Requests: one per image set, both blobs in it, force only when needed, split only when a blob would
pass the per-blob limit (10,000 bytes by default, configurable)."""

from __future__ import annotations

import json

import pytest

from reconciler.plan.model import Change
from reconciler.plan.requests import BLOB_LIMIT, PayloadTooLarge, build_requests, largest_blob

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


@pytest.mark.parametrize("check", ["forbidden", "refused on primary"])
def test_changes_that_cannot_be_sent_make_no_request(check: str) -> None:
    assert build_requests([Change("add", PN, None, "x", check)]) == ()  # type: ignore[arg-type]


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
    assert all(largest_blob(r) <= BLOB_LIMIT for r in reqs)
    series = set()
    for r in reqs:
        series |= set(json.loads(r.updatable or b"")["Study"]["Series"])
    assert series == {f"1.{i}" for i in range(60)}


def test_the_limit_is_per_blob_not_summed() -> None:
    """Two blobs of about 7,000 bytes each: 14,000 together, one request (each blob is under 10,000)."""
    up = Change("add", ("Study", "DICOM", "StudyDescription"), None, "x" * 7000)
    down = Change("remove", ("Study", "Series", "1.0", "DICOM", "SeriesDescription"), "y" * 7000, None)
    (req,) = build_requests([up, down])
    assert len(req.updatable or b"") > 7000 and len(req.removable or b"") > 7000
    assert largest_blob(req) <= BLOB_LIMIT


@pytest.mark.parametrize("limit", [BLOB_LIMIT, 2_000, 30_000])
def test_no_blob_over_a_configured_limit_and_nothing_lost(limit: int) -> None:
    changes = _many(40, 700) + [Change("remove", ("Study", "Series", f"1.{i}", "DICOM", "BodyPartExamined"),
                                       "z" * 300, None) for i in range(40)]
    reqs = build_requests(changes, limit)
    assert all(largest_blob(r) <= limit for r in reqs)
    assert len(reqs) <= 20  # packed: never one request per change
    assert (len(reqs) == 1) is (limit == 30_000)
    upd = [k for r in reqs for k in json.loads(r.updatable or b'{"Study":{"Series":{}}}')["Study"]["Series"]]
    rem = [k for r in reqs for k in json.loads(r.removable or b'{"Study":{"Series":{}}}')["Study"]["Series"]]
    assert sorted(upd) == sorted(rem) == sorted(f"1.{i}" for i in range(40))


def test_study_flag_is_the_callers() -> None:
    (req,) = build_requests([Change("change", SD, "a", "b")], study=True)
    assert req.study is True
    assert build_requests([Change("change", SD, "a", "b")])[0].study is False


def test_payload_just_under_the_limit_stays_one_request() -> None:
    (req,) = build_requests(_many(1, BLOB_LIMIT - 200))
    assert largest_blob(req) <= BLOB_LIMIT


def test_a_single_value_over_the_limit_is_an_error_naming_the_path() -> None:
    with pytest.raises(PayloadTooLarge, match=r"Study\.Series\[1\.0\]\.DICOM\.SeriesDescription"):
        build_requests(_many(1, BLOB_LIMIT + 10))


def test_a_single_value_over_a_lowered_limit_is_an_error() -> None:
    with pytest.raises(PayloadTooLarge, match="2000-byte limit"):
        build_requests(_many(1, 2_100), 2_000)
