"""``reconciler ls`` against the emulator's --local store: every page of SearchImageSets, version, state,
primary flag, storage tier, series and instance counts; no patient values unless --show-phi; nothing
moved out of the archive tier unless --counts (which says so)."""

from __future__ import annotations

import io
import json
import time
from pathlib import Path
from typing import Any

import pytest

from reconciler.cli import main
from reconciler.commands._common import Streams
from reconciler.emulator.records import NewVersion
from reconciler.emulator.store import Store

DS = "1234567890abcdef1234567890abcdef"
MRN = "QQMRN77123"  # patient data: never shown without --show-phi
NAME = "QQSECRET^ZZPATIENT"
COUNT = 60  # more than one page of SearchImageSets (at most 50 per page)
DAY = 24 * 3600.0
FAST = ["--rate", "GetImageSet=1000", "--rate", "GetImageSetMetadata=1000"]  # not the documented 25 and 50 TPS


def doc(mrn: str, series: int = 1, instances: int = 1) -> dict[str, Any]:
    return {"Patient": {"DICOM": {"PatientName": NAME, "PatientID": mrn}},
            "Study": {"DICOM": {"StudyInstanceUID": "1.2.3", "AccessionNumber": "QQACC55"},
                      "Series": {f"1.{s}": {"DICOM": {"Modality": "MR", "BodyPartExamined": "KNEE"},
                                            "Instances": {f"2.{s}.{i}": {"DICOM": {}} for i in range(instances)}}
                                 for s in range(series)}}}


def ids() -> list[str]:
    return [f"{n:032x}" for n in range(COUNT)]


ARCHIVED, LOCKED, BIG, UPDATED = ids()[:4]


@pytest.fixture
def store_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """60 image sets: the first archived (not accessed for 40 days), the second LOCKED by an update, the
    third with 2 series and 5 instances each, the fourth at version 2; the even ones non-primary and of
    patient MRN."""
    store = Store(tmp_path / "store")
    store.ensure_datastore(DS, "ls")
    now = time.time()
    for n, image_set_id in enumerate(ids()):
        shape = (2, 5) if image_set_id == BIG else (1, 1)
        store.put_image_set(DS, image_set_id, doc(MRN if n % 2 == 0 else f"OTHER{n}", *shape),
                            is_primary=n % 2 == 1, now=now - 40 * DAY if image_set_id == ARCHIVED else None)
    store.commit_update(DS, LOCKED, 1, lambda d: NewVersion(d, "UPDATED"), now=now, lock_until=now + 3600)
    store.commit_update(DS, UPDATED, 1, lambda d: NewVersion(d, "UPDATED"), now=now, lock_until=now)
    monkeypatch.setenv("RECONCILER_LOCAL", str(tmp_path / "store"))
    return tmp_path / "store"


def run(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = main(["ls", "--datastore-id", DS, *FAST, *argv], Streams(out=out, err=err, inp=None))
    return code, out.getvalue(), err.getvalue()


def rows(*argv: str) -> dict[str, dict[str, Any]]:
    code, out, err = run("--format", "json", *argv)
    assert code == 0, err
    listing = json.loads(out)
    assert listing["count"] == len(listing["image_sets"])
    return {r["imageSetId"]: r for r in listing["image_sets"]}


def test_every_page_is_listed_with_version_state_primary_tier_and_counts(store_dir: Path) -> None:
    listed = rows()
    assert sorted(listed) == ids()  # past the first page of 50
    assert (listed[ARCHIVED]["storageTier"], listed[UPDATED]["storageTier"]) == (
        "ARCHIVE_INSTANT_ACCESS", "FREQUENT_ACCESS")
    assert (listed[LOCKED]["state"], listed[LOCKED]["versionId"]) == ("LOCKED", "2")
    assert (listed[UPDATED]["state"], listed[UPDATED]["versionId"]) == ("ACTIVE", "2")
    assert [listed[i]["isPrimary"] for i in ids()[:4]] == [False, True, False, True]
    assert (listed[BIG]["series"], listed[BIG]["instances"]) == (2, 10)
    assert (listed[UPDATED]["series"], listed[UPDATED]["instances"]) == (1, 1)


def test_text_is_a_table_of_the_same_values(store_dir: Path) -> None:
    code, out, _err = run()
    assert code == 0
    lines = out.splitlines()
    assert lines[0] == f"Datastore {DS}: 60 image sets (series and instances as SearchImageSets reports them)"
    assert lines[2].split() == ["image", "set", "ID", "version", "state", "primary", "storage", "tier", "series",
                                "instances", "modality", "body", "part"]
    table = {line.split()[0]: line.split()[1:] for line in lines[3:]}
    assert len(table) == COUNT
    assert table[ARCHIVED] == ["1", "ACTIVE", "no", "ARCHIVE_INSTANT_ACCESS", "1", "1", "MR", "KNEE"]
    assert table[LOCKED][:4] == ["2", "LOCKED", "yes", "FREQUENT_ACCESS"]
    assert table[BIG][4:6] == ["2", "10"]


def test_select_lists_only_what_the_search_finds(store_dir: Path) -> None:
    assert sorted(rows("--select", f"DICOMPatientId={MRN}")) == ids()[::2]
    assert rows("--select", "DICOMPatientId=NOBODY") == {}
    code, out, _err = run("--select", "DICOMPatientId=NOBODY")
    assert (code, out) == (0, f"Datastore {DS}: 0 image sets (series and instances as SearchImageSets reports them)\n")


def test_no_patient_values_unless_show_phi(store_dir: Path) -> None:
    for argv in ((), ("--format", "json"), ("--select", f"DICOMPatientId={MRN}")):
        code, out, err = run(*argv)
        assert code == 0
        for secret in (MRN, NAME, "QQACC55"):
            assert secret not in out + err
    tags = rows()[ARCHIVED]["dicomTags"]
    assert tags["DICOMPatientName"].startswith("<redacted:") and tags["DICOMSeriesModality"] == "MR"
    code, out, _err = run("--show-phi")
    assert code == 0 and "patient ID" in out.splitlines()[2] and MRN in out and NAME in out
    assert rows("--show-phi")[ARCHIVED]["dicomTags"]["DICOMPatientName"] == NAME


def test_listing_moves_nothing_out_of_the_archive_tier_but_counts_does_and_says_so(store_dir: Path) -> None:
    assert rows()[ARCHIVED]["storageTier"] == "ARCHIVE_INSTANT_ACCESS"
    assert rows()[ARCHIVED]["storageTier"] == "ARCHIVE_INSTANT_ACCESS"  # the first listing read nothing
    code, out, err = run("--counts")
    assert code == 0
    assert "series and instances counted in the metadata" in out.splitlines()[0]
    assert "moves those in ARCHIVE_INSTANT_ACCESS back to FREQUENT_ACCESS" in err
    assert "1 image set listed in ARCHIVE_INSTANT_ACCESS moved back to FREQUENT_ACCESS" in err
    after = rows()
    assert after[ARCHIVED]["storageTier"] == "FREQUENT_ACCESS"
    counted = rows("--counts")
    assert counted[BIG]["series"] == 2 and counted[BIG]["instances"] == 10


@pytest.mark.parametrize(("argv", "message"), [
    (("--select", "DICOMPatientId"), "--select: expected KEY=VALUE"),
    (("--select", "PatientName=X"), "cannot search image sets by 'PatientName'"),
])
def test_bad_select_is_an_error(store_dir: Path, argv: tuple[str, ...], message: str) -> None:
    code, out, err = run(*argv)
    assert (code, out) == (1, "") and message in err and "Traceback" not in err


def test_an_unknown_datastore_is_an_error_naming_it(store_dir: Path) -> None:
    out, err = io.StringIO(), io.StringIO()
    code = main(["ls", "--datastore-id", "f" * 32], Streams(out=out, err=err, inp=None))
    assert code == 1 and "f" * 32 in err.getvalue() and "Traceback" not in err.getvalue()
