"""A saved plan is bound to the spec files it was made from (paths from the git root, or from the working folder
outside git; sha256 of each) and to the git commit. `apply PLANFILE` refuses it (exit 1, each changed file named,
nothing sent) when a spec file that is here was edited, removed or added to a planned folder; where the files are
not here it says it could not check them; a different commit with the same spec files goes ahead with a note.
`show PLANFILE` prints the commit and the files (JSON: "specs", as schemas/plan.schema.json says)."""

from __future__ import annotations

import io
import json
import os
import shutil
import subprocess
import time
from pathlib import Path

import jsonschema
import pytest

from reconciler.cli import main
from reconciler.commands._common import Streams
from reconciler.emulator.store import Store

ROOT = Path(__file__).resolve().parents[2]
DS = "1234567890abcdef1234567890abcdef"
A, B = "a" * 32, "b" * 32


def spec(image_set: str, description: str) -> str:
    return f"""apiVersion: reconciler/v1
kind: ImageSetMetadata
target:
  datastoreId: {DS}
  imageSetId: {image_set}
desired:
  Study:
    DICOM:
      StudyDescription: {description}
"""


def run(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = main(list(argv), Streams(out=out, err=err, inp=None))
    return code, out.getvalue(), err.getvalue()


def git(cwd: Path, *args: str) -> str:
    env = {**os.environ, "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.org", "GIT_COMMITTER_NAME": "t",
           "GIT_COMMITTER_EMAIL": "t@example.org", "GIT_CONFIG_GLOBAL": os.devnull, "GIT_CONFIG_NOSYSTEM": "1"}
    return subprocess.run(["git", *args], cwd=cwd, env=env, check=True, capture_output=True, text=True).stdout.strip()


def versions(store: Path, image_set: str) -> int:
    return len(Store(store).list_versions(DS, image_set, now=time.time()))


@pytest.fixture
def repo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A git repository holding specs/a.yaml and specs/b.yaml (committed), and a store outside it."""
    for name in ("RECONCILER_LOCAL", "CI"):
        monkeypatch.delenv(name, raising=False)
    store = Store(tmp_path / "store")
    store.ensure_datastore(DS, "local")
    for image_set in (A, B):
        store.put_image_set(DS, image_set, {"Study": {"DICOM": {"StudyDescription": "OLD"}}}, is_primary=False)
    work = tmp_path / "repo"
    (work / "specs").mkdir(parents=True)
    (work / "specs" / "a.yaml").write_text(spec(A, "HEAD"))
    (work / "specs" / "b.yaml").write_text(spec(B, "CHEST"))
    git(work, "init", "-q")
    git(work, "add", ".")
    git(work, "commit", "-qm", "specs")
    monkeypatch.chdir(work)
    return work


def plan_saved(repo: Path) -> None:
    code, _out, err = run("plan", "specs", "--local", "../store", "--out", "p.plan")
    assert code == 0, err


@pytest.mark.parametrize(("change", "named"), [
    (lambda r: (r / "specs" / "a.yaml").write_text(spec(A, "KNEE")), "specs/a.yaml (edited)"),
    (lambda r: (r / "specs" / "b.yaml").unlink(), "specs/b.yaml (removed)"),
    (lambda r: (r / "specs" / "more").mkdir() or (r / "specs" / "more" / "c.yml").write_text(spec(A, "KNEE")),
     "specs/more/c.yml (new)"),
], ids=["edited", "removed", "new-in-folder"])
def test_a_changed_spec_file_refuses_the_plan_and_nothing_is_sent(repo: Path, change: object, named: str) -> None:
    plan_saved(repo)
    change(repo)  # type: ignore[operator]
    code, out, err = run("apply", "p.plan", "--local", "../store")
    assert code == 1, err
    assert f"error: p.plan: the spec files changed since the plan was made: {named}; refused, nothing was sent" in err
    assert "plan again" in err and "Traceback" not in err and "converged" not in out
    assert versions(repo.parent / "store", A) == 1 and versions(repo.parent / "store", B) == 1
    assert not (repo / ".reconciler").exists()  # not even a journal


def test_every_changed_file_is_named(repo: Path) -> None:
    plan_saved(repo)
    (repo / "specs" / "a.yaml").write_text(spec(A, "KNEE"))
    (repo / "specs" / "b.yaml").unlink()
    code, _out, err = run("apply", "p.plan", "--local", "../store")
    assert code == 1 and "specs/a.yaml (edited), specs/b.yaml (removed)" in err


def test_unchanged_specs_apply_without_a_note(repo: Path) -> None:
    plan_saved(repo)
    code, out, err = run("apply", "p.plan", "--local", "../store")
    assert code == 0, err
    assert "2 converged" in out and "note: " not in err


def test_another_commit_with_the_same_spec_files_goes_ahead_with_a_note(repo: Path) -> None:
    plan_saved(repo)
    made = git(repo, "rev-parse", "HEAD")
    (repo / "README.md").write_text("specs of the imaging archive\n")
    git(repo, "add", "README.md")
    git(repo, "commit", "-qm", "readme")
    now = git(repo, "rev-parse", "HEAD")
    code, out, err = run("apply", "p.plan", "--local", "../store")
    assert code == 0, err
    assert (f"note: p.plan was made from commit {made[:12]}, and {now[:12]} is checked out; its spec files are the "
            "same, so it is applied") in err
    assert "2 converged" in out


def test_where_the_spec_files_are_absent_apply_says_it_could_not_check_them(repo: Path, tmp_path: Path,
                                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    plan_saved(repo)
    elsewhere = tmp_path / "runner"
    elsewhere.mkdir()
    shutil.copy(repo / "p.plan", elsewhere / "p.plan")
    monkeypatch.chdir(elsewhere)  # another machine: no checkout of the specs
    code, out, err = run("apply", "p.plan", "--local", str(tmp_path / "store"))
    assert code == 0, err
    assert "note: the spec files of p.plan (specs) are not here, so they could not be checked against the plan" in err
    assert "2 converged" in out


def test_show_prints_the_commit_and_the_files(repo: Path) -> None:
    plan_saved(repo)
    head = git(repo, "rev-parse", "HEAD")
    code, shown, _err = run("show", "p.plan")
    assert code == 0
    assert f"Made from: commit {head}\n" in shown
    assert "Spec files (2, sha256):\n  specs/a.yaml  " in shown and "\n  specs/b.yaml  " in shown
    code, text, _err = run("show", "p.plan", "--format", "json")
    doc = json.loads(text)
    jsonschema.validate(doc, json.loads((ROOT / "schemas" / "plan.schema.json").read_text()))
    assert doc["specs"]["commit"] == head and doc["specs"]["dirty"] is False
    assert doc["specs"]["planned"] == ["specs"] and doc["specs"]["folders"] == ["specs"]
    assert [f["path"] for f in doc["specs"]["files"]] == ["specs/a.yaml", "specs/b.yaml"]


def test_a_dirty_tree_is_recorded(repo: Path) -> None:
    (repo / "specs" / "a.yaml").write_text(spec(A, "KNEE"))  # not committed
    plan_saved(repo)
    code, shown, _err = run("show", "p.plan")
    assert code == 0 and " (the work tree was dirty)\n" in shown


def test_outside_git_paths_are_from_the_working_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GIT_CEILING_DIRECTORIES", str(tmp_path))  # no repository above tmp_path is found
    monkeypatch.delenv("RECONCILER_LOCAL", raising=False)
    store = Store(tmp_path / "store")
    store.ensure_datastore(DS, "local")
    store.put_image_set(DS, A, {"Study": {"DICOM": {"StudyDescription": "OLD"}}}, is_primary=False)
    work = tmp_path / "work"
    work.mkdir()
    (work / "a.yaml").write_text(spec(A, "HEAD"))
    monkeypatch.chdir(work)
    assert run("plan", "a.yaml", "--local", "../store", "--out", "p.plan")[0] == 0
    doc = json.loads(run("show", "p.plan", "--format", "json")[1])
    assert doc["specs"]["commit"] is None and doc["specs"]["dirty"] is None
    assert [f["path"] for f in doc["specs"]["files"]] == ["a.yaml"]
    (work / "a.yaml").write_text(spec(A, "KNEE"))
    code, _out, err = run("apply", "p.plan", "--local", "../store")
    assert code == 1 and "a.yaml (edited)" in err
