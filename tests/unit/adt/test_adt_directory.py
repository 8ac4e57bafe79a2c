"""The patient directory of an ADT run: one listing of the datastore for a backlog, or a search per patient,
find the same image sets (padded PatientIDs included), through the real client and the in-process emulator."""

from __future__ import annotations

from pathlib import Path

import pytest

from reconciler.adt.resolve import Directory
from tests.support.adtenv import DS, document, seed
from tests.support.backends import from_options

IDS = {"1" * 32: "P1", "2" * 32: "P1", "3" * 32: "P2 ", "4" * 32: "P3"}


@pytest.fixture
def api(tmp_path: Path) -> object:
    seed(tmp_path / "store", {i: document(pid, f"1.2.{n}", n) for n, (i, pid) in enumerate(IDS.items())})
    return from_options(local_dir=str(tmp_path / "store"), rates={"SearchImageSets": 1e6})


@pytest.mark.parametrize("expected", [(), ("P1", "P2", "P9"), ("P1", "P2")])
def test_listing_and_searching_find_the_same_image_sets(api: object, expected: tuple[str, ...]) -> None:
    directory = Directory(api, DS, expected)  # type: ignore[arg-type]
    assert directory.listed is (len(expected) > 1)
    found = {pid: sorted(h.image_set_id for h in directory.find(pid)) for pid in ("P1", "P2", "P9")}
    assert found == {"P1": ["1" * 32, "2" * 32], "P2": ["3" * 32], "P9": []}


def test_a_listing_longer_than_the_searches_it_saves_is_given_up(api: object, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("reconciler.adt.resolve.PAGE", 1)  # 2 IDs: a budget of 2 image sets, the datastore has 4
    directory = Directory(api, DS, ("P1", "P2"))  # type: ignore[arg-type]
    assert sorted(h.image_set_id for h in directory.find("P1")) == ["1" * 32, "2" * 32]
    assert directory.listed is False
