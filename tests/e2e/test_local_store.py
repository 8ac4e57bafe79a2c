"""A mistyped ``--local`` path (or ``RECONCILER_LOCAL``) is an error, never a new empty store.

Commands that read or update a store refuse a directory without one (exit 1, a one-line message
naming the directory and how to create a store) and create nothing: not the directory, not a
database file, not a journal. Only the emulator commands that create data may create a store.
"""

from __future__ import annotations

import argparse
import io
import json
import os
from pathlib import Path

import pytest

from reconciler.cli import main
from reconciler.commands._common import Streams
from reconciler.commands._options import backend_from_args
from reconciler.emulator.store import Store
from tests.support import forked
from tests.support.spectext import one_value_spec

DS = "1234567890abcdef1234567890abcdef"
IS = "f" * 32
SECRET = "QQSTORE^ZZPATIENT"
DOC = {"Patient": {"DICOM": {"PatientName": SECRET, "PatientID": "P9"}},
       "Study": {"DICOM": {"StudyInstanceUID": "1.2.3"}, "Series": {}}}
SPEC = one_value_spec(DS, IS, "Patient", "PatientName", "NEW^NAME")

COMMANDS = {
    "plan": ["plan", "specs"],
    "apply": ["apply", "specs", "--auto-approve"],
    "drift": ["drift", "specs"],
    "import": ["import", "--datastore-id", DS, "--image-set-id", IS],
    "history": ["history", "--datastore-id", DS, "--image-set-id", IS],
    "revert": ["revert", "--datastore-id", DS, "--image-set-id", IS, "--to-version", "1", "--auto-approve"],
}


@pytest.fixture
def cwd(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A working folder with specs/, a real store in store/ and an empty folder empty/."""
    monkeypatch.delenv("RECONCILER_LOCAL", raising=False)
    monkeypatch.chdir(tmp_path)
    (tmp_path / "specs").mkdir()
    (tmp_path / "specs" / "a.yaml").write_text(SPEC)
    (tmp_path / "empty").mkdir()
    store = Store(tmp_path / "store")
    store.ensure_datastore(DS, "local")
    store.put_image_set(DS, IS, DOC, is_primary=False)  # a Patient-level change: not on a primary
    return tmp_path


def run(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = main(list(argv), Streams(out=out, err=err, inp=None))
    return code, out.getvalue(), err.getvalue()


def tree(root: Path) -> list[str]:
    """Every path below ROOT but the real store's files (SQLite's -wal/-shm come and go on their own)."""
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if not p.name.startswith("emulator.sqlite3-"))


def refused(code: int, out: str, err: str, directory: str) -> None:
    assert code == 1, err
    assert out == ""
    assert err.startswith(f"error: no emulator store in {directory}")
    assert "reconciler emulator import-dicom --local" in err and "reconciler emulator load --local" in err
    assert err.count("\n") == 1 and "Traceback" not in err
    assert SECRET not in err


@pytest.mark.parametrize("command", sorted(COMMANDS))
@pytest.mark.parametrize("directory", ["./stroe", "no/such/dir", "empty"])
def test_a_directory_without_a_store_is_refused(cwd: Path, command: str, directory: str) -> None:
    before = tree(cwd)
    code, out, err = run(*COMMANDS[command], "--local", directory)
    refused(code, out, err, os.path.abspath(directory))  # named by its absolute path
    assert tree(cwd) == before  # no directory, database or journal was created
    if directory != "empty":
        assert "(no such directory)" in err


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_reconciler_local_follows_the_same_rule(cwd: Path, command: str, monkeypatch: pytest.MonkeyPatch) -> None:
    missing = str(cwd / "nonexistent")
    monkeypatch.setenv("RECONCILER_LOCAL", missing)
    before = tree(cwd)
    code, out, err = run(*COMMANDS[command])
    refused(code, out, err, missing)
    assert "RECONCILER_LOCAL" in err
    assert tree(cwd) == before


def test_a_relative_reconciler_local_is_read_against_the_folder_and_named_absolute(
    cwd: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A relative RECONCILER_LOCAL exported in one folder, then a `cd`: the error names the store it
    looked for by its absolute path, says what it was read against, and never suggests the relative path."""
    monkeypatch.setenv("RECONCILER_LOCAL", "store")
    assert run("plan", "specs")[0] == 0  # where it was exported, it finds the store
    (cwd / "specs" / "sub").mkdir()
    monkeypatch.chdir(cwd / "specs" / "sub")
    before = tree(cwd)
    code, out, err = run("plan", "..")
    refused(code, out, err, str(cwd / "specs" / "sub" / "store"))
    assert "--local store " not in err and f"--local {cwd / 'specs' / 'sub' / 'store'} " in err
    assert f"comes from RECONCILER_LOCAL=store, relative to the current folder {cwd / 'specs' / 'sub'}" in err
    assert 'export RECONCILER_LOCAL="$PWD/store"' in err
    assert tree(cwd) == before  # nothing created


def test_the_store_is_resolved_once_at_start(cwd: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RECONCILER_LOCAL", "store")
    args = argparse.Namespace(local=None)
    assert backend_from_args(args).local_dir == str(cwd / "store")
    assert backend_from_args(argparse.Namespace(local="./store/../store")).local_dir == str(cwd / "store")


def test_emulator_errors_name_the_store_by_its_absolute_path(cwd: Path) -> None:
    (cwd / "doc.json").write_text(json.dumps(DOC))
    (cwd / "plain-file").write_text("")
    code, _out, err = run("emulator", "load", "--local", "plain-file", "--datastore-id", DS, "--image-set-id", IS,
                          "doc.json")
    assert code == 1 and f"emulator store in {cwd / 'plain-file'}" in err, err


def test_an_absolute_path_outside_is_not_created(cwd: Path, tmp_path_factory: pytest.TempPathFactory) -> None:
    outside = tmp_path_factory.mktemp("outside") / "nonexistent"
    code, out, err = run("plan", "specs", "--local", str(outside))
    refused(code, out, err, str(outside))
    assert not outside.exists()


def test_the_same_commands_work_on_a_real_store(cwd: Path) -> None:
    assert run("plan", "specs", "--local", "store")[0] == 0
    assert run("history", "--datastore-id", DS, "--image-set-id", IS, "--local", "store")[0] == 0


def test_through_a_subprocess_as_a_user_types_it(cwd: Path) -> None:
    done = forked.run([*forked.PREFIX, "plan", "specs", "--local", "./stroe"],
                          capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 1
    assert done.stderr.startswith(f"error: no emulator store in {cwd / 'stroe'}") and "Traceback" not in done.stderr
    assert not (cwd / "stroe").exists()


def test_emulator_load_creates_a_store_that_plan_then_uses(cwd: Path) -> None:
    """The commands that create data may create the store (and its directory)."""
    (cwd / "doc.json").write_text(json.dumps(DOC))
    fresh = "new/store"
    code, out, err = run("emulator", "load", "--local", fresh, "--datastore-id", DS, "--image-set-id", IS,
                         "--non-primary", "doc.json")  # the spec changes a Patient-level attribute
    assert code == 0, err
    assert json.loads(out)["versionId"] == "1"
    code, out, err = run("plan", "specs", "--local", fresh, "--detailed-exitcode")
    assert code == 2, err


def test_emulator_import_dicom_creates_a_store(cwd: Path) -> None:
    import pydicom.data

    ct = Path(pydicom.data.get_testdata_file("CT_small.dcm"))
    code, out, err = run("emulator", "import-dicom", "--local", "dicom/store", "--datastore-id", DS, str(ct))
    assert code == 0, err
    assert (cwd / "dicom" / "store" / "emulator.sqlite3").is_file()
    assert run("history", "--datastore-id", DS, "--image-set-id", json.loads(out)[0]["imageSetId"],
               "--local", "dicom/store")[0] == 0
