"""What a replacement keeps of the instances (counts and keyed digests) and how its journal records fold
back into where it stands (``reconciler.apply.instances``, ``reconciler.apply.ledger``)."""

from __future__ import annotations

import json
from pathlib import Path

from reconciler.apply.instances import digest, expected_after, instance_keys
from reconciler.apply.journal import Journal
from reconciler.apply.ledger import Ledger
from reconciler.plan.model import Change, ImageSetPlan

DOC = {"Study": {"Series": {"1.1": {"Instances": {"1.1.1": {}, "1.1.2": {}}}, "1.2": {"Instances": {"1.2.1": {}}}}}}
DS, P = "d" * 32, "p" * 32


def test_instance_keys_and_what_the_plan_leaves() -> None:
    keys = instance_keys(DOC)
    assert keys == {("1.1", "1.1.1"), ("1.1", "1.1.2"), ("1.2", "1.2.1")}
    plan = ImageSetPlan(DS, P, "1", "replace", changes=(
        Change("remove", ("Study", "Series", "1.1", "Instances", "1.1.2"), None, None, node=True),
        Change("change", ("Study", "Series", "1.2", "DICOM", "SeriesInstanceUID"), "1.2", "1.9"),
        Change("change", ("Study", "Series", "1.1", "Instances", "1.1.1", "DICOM", "SOPInstanceUID"), "1.1.1",
               "1.1.7"),
    ))
    assert expected_after(keys, plan) == {("1.1", "1.1.7"), ("1.9", "1.2.1")}
    removed = ImageSetPlan(DS, P, "1", "replace", changes=(
        Change("remove", ("Study", "Series", "1.1"), None, None, node=True),))
    assert expected_after(keys, removed) == {("1.2", "1.2.1")}


def test_the_digest_is_keyed_and_tells_equal_sets_apart_from_others() -> None:
    keys = instance_keys(DOC)
    salt, other = "00" * 16, "01" * 16
    assert digest(keys, salt) == digest(frozenset(sorted(keys)), salt)
    assert digest(keys, salt) != digest(keys, other)
    assert digest(keys - {("1.2", "1.2.1")}, salt) != digest(keys, salt)
    assert "1.1.1" not in digest(keys, salt)


def _journal(path: Path, *events: tuple[str, dict[str, str]]) -> None:
    with Journal(path) as j:
        for event, fields in events:
            j.record(event, datastoreId=DS, imageSetId=P, plannedVersion="1", **fields)


def test_the_ledger_folds_the_records_of_every_journal_of_the_folder(tmp_path: Path) -> None:
    _journal(tmp_path / "a.jsonl", ("copy_submitting", {"salt": "00" * 16}), ("copy_submitted", {"copyId": "c" * 32,
             "copyVersion": "1"}), ("copied", {"copyId": "c" * 32, "copyVersion": "1"}))
    _journal(tmp_path / "b.jsonl", ("copy_updated", {"copyId": "c" * 32, "copyVersion": "2"}),
             ("primary_deleting", {"copyId": "c" * 32}))
    (tmp_path / "torn.jsonl").write_text('{"event":"copy_submitting","imageSetId":')  # a kill during a write
    (progress,) = Ledger([tmp_path]).unfinished()
    assert (progress.copy_id, progress.copied_version, progress.copy_version) == ("c" * 32, "1", "2")
    assert progress.primary_deleting and not progress.primary_deleted and progress.last == "primary_deleting"
    assert progress.salt == "00" * 16 and progress.planned_version == "1"


def test_converged_ends_a_replacement_and_abandoned_forgets_it(tmp_path: Path) -> None:
    _journal(tmp_path / "a.jsonl", ("copy_submitting", {}), ("copy_submitted", {"copyId": "c" * 32}),
             ("replace_abandoned", {"copyId": "c" * 32}))
    assert Ledger([tmp_path]).unfinished() == []
    assert Ledger([tmp_path]).progress(DS, P).copy_id is None
    _journal(tmp_path / "b.jsonl", ("copy_submitting", {}), ("promote_submitted", {"newId": "n" * 32}),
             ("converged", {"replacedBy": "n" * 32}))
    done = Ledger([tmp_path]).progress(DS, P)
    assert done.done and done.new_id == "n" * 32 and not done.started
    records = [json.loads(line) for line in (tmp_path / "b.jsonl").read_text().splitlines()]
    assert records[-1]["replacedBy"] == "n" * 32


def test_the_ledger_folds_remote_journals_with_the_local_ones_and_is_told_which_are_local(tmp_path: Path) -> None:
    """The journals under an S3 prefix come in as texts; the reader is told the local names, so that the S3
    copy of a local journal is not folded twice."""
    _journal(tmp_path / "a.jsonl", ("copy_submitting", {"salt": "00" * 16}), ("copied", {"copyId": "c" * 32,
             "copyVersion": "1"}))
    remote = tmp_path / "remote"
    _journal(remote / "b.jsonl", ("primary_deleting", {"copyId": "c" * 32}), ("primary_deleted", {}))
    asked: list[frozenset[str]] = []

    def read(local: frozenset[str]) -> list[tuple[str, str]]:
        asked.append(local)
        return [("s3://bucket/journals/b.jsonl", (remote / "b.jsonl").read_text()), ("torn", '{"event":"copied"')]

    ledger = Ledger([tmp_path], remote=read)
    (progress,) = ledger.unfinished()
    assert progress.copy_id == "c" * 32 and progress.primary_deleted and progress.last == "primary_deleted"
    assert ledger.progress(DS, P).primary_deleted
    assert asked == [frozenset({"a.jsonl"})]  # read once, told the local names


def test_a_group_members_records_fold_its_group_pristine_copy_and_the_versions_the_answers_gave(
        tmp_path: Path) -> None:
    group = ["a" * 32, P]
    _journal(tmp_path / "a.jsonl", ("copy_submitting", {"group": group}),
             ("pristine_submitted", {"group": group, "pristineId": "s" * 32, "pristineVersion": "2"}),
             ("pristine_copied", {"group": group, "pristineId": "s" * 32, "pristineVersion": "2"}),
             ("primary_deleted", {"group": group}),
             ("promote_submitted", {"group": group, "newId": "n" * 32, "newVersion": "3"}))
    st = Ledger([tmp_path]).progress(DS, P)
    assert st.group == tuple(group)
    assert (st.pristine_id, st.pristine_version, st.pristine_copied) == ("s" * 32, "2", True)
    assert (st.new_id, st.new_version) == ("n" * 32, "3")  # waited for at 3, the version the answer gave


def test_a_restored_group_member_ends_its_replacement(tmp_path: Path) -> None:
    _journal(tmp_path / "a.jsonl", ("primary_deleted", {}), ("promote_submitted", {"newId": "n" * 32}),
             ("rollback_deleted", {"newId": "n" * 32}),
             ("restore_submitted", {"newId": "r" * 32, "newVersion": "1", "pristineId": "s" * 32}))
    st = Ledger([tmp_path]).progress(DS, P)
    assert st.rolled_back and st.new_id is None and (st.restored_id, st.restored) == ("r" * 32, False)
    _journal(tmp_path / "b.jsonl", ("restored", {"newId": "r" * 32}), ("replace_restored", {"newId": "r" * 32}))
    assert Ledger([tmp_path]).unfinished() == []
