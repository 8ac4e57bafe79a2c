"""`history` after a replacement, through the CLI over both transports: the new image set names the one it
replaced and when, the deleted one names its replacement (instead of "does not exist"); from the apply journal
where it is at hand, and otherwise from what HealthImaging keeps (the deleted image set's GetImageSet, the
new one's first version made by a copy)."""

from __future__ import annotations

import json
import shutil

from tests.support.replaceenv import DS, NEW, OLD, Env, X, assert_replaced, env, spec_text

__all__ = ["env"]  # the fixture


def replace(env: Env, *journal: str) -> str:
    env.spec(spec_text())
    code, out, err = env.cli("apply", "specs", "--auto-approve", *journal)
    assert code == 0, out + err
    return assert_replaced(env)


def history(env: Env, image_set_id: str, *extra: str) -> tuple[int, str, str]:
    return env.cli("history", "--datastore-id", DS, "--image-set-id", image_set_id, *extra)


def test_the_new_image_set_names_the_one_it_replaced_and_when(env: Env) -> None:
    new = replace(env, "--journal", "j/run.jsonl")
    code, out, err = history(env, new, "--journal", "j/")
    assert code == 0, err
    lines = out.splitlines()
    assert lines[0] == f"Image set {new} in datastore {DS}: 1 version, newest first"
    assert lines[1].startswith(f"Replaces image set {X}: promoted from a copy of it at 20")
    assert "(apply run run)" in lines[1] and f"; {X} was deleted at 20" in lines[1]
    assert lines[2].split()[:2] == ["VERSION", "STATE"]
    assert NEW not in out and OLD not in out

    code, out, err = history(env, new, "--journal", "j/run.jsonl", "--format", "json")  # a file names its folder
    assert code == 0, err
    doc = json.loads(out)
    (before,) = doc["replaces"]
    assert (before["imageSetId"], before["newImageSetId"], before["run"], before["finished"]) == (X, new, "run", True)
    assert before["replacedAt"].endswith("Z") and before["deletedAt"] <= before["replacedAt"]
    assert doc["replacedBy"] == [] and doc["copiedFromUnknown"] is False and doc["count"] == 1


def test_the_replaced_image_set_names_its_replacement_instead_of_not_existing(env: Env) -> None:
    new = replace(env, "--journal", "j/run.jsonl")
    code, out, err = history(env, X, "--journal", "j")
    assert code == 0, err
    lines = out.splitlines()
    assert lines[0].startswith(f"Image set {X} in datastore {DS} was deleted at 20")
    assert "does not exist" not in out
    assert lines[1].startswith(f"Replaced by image set {new} at 20") and "(apply run run)" in lines[1]
    assert lines[2] == f"  the image set now: reconciler history --datastore-id {DS} --image-set-id {new}"

    code, out, err = history(env, X, "--journal", "j", "--format", "json")
    assert code == 0, err
    doc = json.loads(out)
    assert (doc["count"], doc["versions"], doc["deletedAt"][:2]) == (0, [], "20")
    assert [r["imageSetId"] for r in doc["replacedBy"]] == [new] and doc["replaces"] == []


def test_the_default_journal_folder_is_read_without_being_named(env: Env) -> None:
    new = replace(env)  # apply's default journal: .reconciler/journal/ under the working folder
    code, out, err = history(env, new)
    assert code == 0, err
    assert f"Replaces image set {X}:" in out
    assert f"Replaced by image set {new}" in history(env, X)[1]


def test_without_a_journal_the_service_still_says_what_it_keeps(env: Env) -> None:
    new = replace(env, "--journal", "j/run.jsonl")
    shutil.rmtree(env.root / "j")  # the journal is gone (another machine, a CI runner that kept nothing)
    code, out, err = history(env, new)
    assert code == 0, err
    assert "Note: version 1 was made by CopyImageSet; HealthImaging keeps no link to the image set it was " \
           "copied from" in out and "Replaces" not in out
    assert json.loads(history(env, new, "--format", "json")[1])["copiedFromUnknown"] is True

    code, out, err = history(env, X)  # GetImageSet still answers for the deleted image set
    assert code == 0, err
    assert out.startswith(f"Image set {X} in datastore {DS} was deleted at 20") and "state DELETED" in out
    assert "Replaced by" not in out and "Note: no apply journal read here names an image set that replaced it" in out


def test_an_image_set_that_never_existed_is_still_an_error(env: Env) -> None:
    code, out, err = history(env, "0" * 32)
    assert code == 1 and out == ""
    assert "0" * 32 in err and "Traceback" not in err


def test_a_plain_image_set_shows_no_lineage(env: Env) -> None:
    code, out, err = history(env, X)  # before any replacement: the primary, imported, never copied
    assert code == 0, err
    assert "Replace" not in out and "Note:" not in out
    assert json.loads(history(env, X, "--format", "json")[1])["replaces"] == []
