"""`reconciler init [DIR] [--ci github|gitlab]` sets up a specs repository: a .gitignore that keeps out of git
everything the reconciler writes that can hold patient data (checked with git itself, after a real plan, apply,
import and drift run in the repository), an example spec with the schema modeline that validates, the shipped
CI recipes (package data, kept equal to examples/ci/), and a README. It never overwrites a file."""

from __future__ import annotations

import fnmatch
import io
import os
import subprocess
import tomllib
from pathlib import Path

import pytest

from reconciler.cli import main
from reconciler.commands._common import Streams
from reconciler.commands.init_cmd import CI_FILES
from reconciler.emulator.store import Store

ROOT = Path(__file__).resolve().parents[2]
SCAFFOLD = ROOT / "reconciler" / "scaffold"
DS = "1234567890abcdef1234567890abcdef"
IS = "d" * 32
SECRET = "QQINIT^ZZPATIENT"


def run(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = main(list(argv), Streams(out=out, err=err, inp=None))
    return code, out.getvalue(), err.getvalue()


def git(cwd: Path, *args: str) -> str:
    env = {**os.environ, "GIT_CONFIG_GLOBAL": os.devnull, "GIT_CONFIG_NOSYSTEM": "1"}
    return subprocess.run(["git", *args], cwd=cwd, env=env, check=True, capture_output=True, text=True).stdout


@pytest.mark.parametrize("ci", ["github", "gitlab"])
def test_init_writes_the_files_and_the_chosen_recipes_as_shipped(tmp_path: Path, ci: str) -> None:
    code, out, err = run("init", str(tmp_path / "repo"), "--ci", ci)
    assert (code, err) == (0, "")
    repo = tmp_path / "repo"
    expected = {".gitignore", "README.md", "specs/example.yaml", "schemas/spec.schema.json", *CI_FILES[ci]}
    written = {p.relative_to(repo).as_posix() for p in repo.rglob("*") if p.is_file()}
    assert written == expected
    assert all(f"  created  {name}" in out for name in expected)
    for path, source in CI_FILES[ci].items():  # the shipped recipes, byte for byte
        assert (repo / path).read_bytes() == (ROOT / "examples" / source).read_bytes()
    readme = (repo / "README.md").read_text()
    assert all(f"`{name}`" in readme for name in ("specs/", "schemas/spec.schema.json", ".gitignore"))
    assert (".github/workflows/" if ci == "github" else ".gitlab-ci.yml") in readme


def test_the_example_spec_names_its_schema_and_validates(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert run("init", str(tmp_path))[0] == 0
    example = (tmp_path / "specs" / "example.yaml").read_text()
    first = example.splitlines()[0]
    assert first == "# yaml-language-server: $schema=../schemas/spec.schema.json"
    schema = (tmp_path / "specs" / first.split("$schema=", 1)[1]).resolve()
    assert schema.read_bytes() == (ROOT / "schemas" / "spec.schema.json").read_bytes()
    monkeypatch.chdir(tmp_path)
    code, out, err = run("validate", "specs/")
    assert code == 0, err
    assert out.strip() == "1 file valid"


def test_init_never_overwrites_and_lists_what_it_skipped(tmp_path: Path) -> None:
    (tmp_path / "README.md").write_text("my own readme\n")
    (tmp_path / ".gitignore").write_text("*.log\n")
    code, out, _err = run("init", str(tmp_path), "--ci", "gitlab")
    assert code == 0
    assert (tmp_path / "README.md").read_text() == "my own readme\n"
    assert (tmp_path / ".gitignore").read_text() == "*.log\n"
    assert "  skipped  README.md (already there: left as it is)" in out
    assert "  skipped  .gitignore (already there: left as it is)" in out
    assert "3 created, 2 skipped" in out
    again = run("init", str(tmp_path), "--ci", "gitlab")
    assert again[0] == 0 and "0 created, 5 skipped" in again[1]


def test_a_dir_that_is_a_file_is_refused(tmp_path: Path) -> None:
    (tmp_path / "f").write_text("x")
    code, out, err = run("init", str(tmp_path / "f"))
    assert (code, out) == (1, "") and "f: not a folder" in err


def test_a_bare_init_sets_up_the_working_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    assert run("init")[0] == 0
    assert (tmp_path / ".github" / "workflows" / "reconciler-plan.yml").is_file()


def test_the_packaged_recipes_are_the_shipped_ones() -> None:
    """reconciler/scaffold/ci/ is a copy of examples/ci/ (package data: `init` works from an installed package).
    After editing a recipe in examples/ci/, copy it: `cp -R examples/ci/. reconciler/scaffold/ci/`."""
    shipped = {p.relative_to(ROOT / "examples" / "ci"): p.read_bytes()
               for p in (ROOT / "examples" / "ci").rglob("*") if p.is_file()}
    packaged = {p.relative_to(SCAFFOLD / "ci"): p.read_bytes() for p in (SCAFFOLD / "ci").rglob("*") if p.is_file()}
    assert packaged == shipped, "run `cp -R examples/ci/. reconciler/scaffold/ci/` (and remove deleted recipes)"
    assert {Path(s).relative_to("ci") for sources in CI_FILES.values() for s in sources.values()} <= set(shipped)


def test_every_scaffold_file_is_package_data() -> None:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())
    globs = config["tool"]["setuptools"]["package-data"]["reconciler"]
    files = [p.relative_to(ROOT / "reconciler").as_posix() for p in SCAFFOLD.rglob("*") if p.is_file()]
    assert files and all(any(fnmatch.fnmatch(f, g) and f.count("/") == g.count("/") for g in globs) for f in files)


@pytest.fixture
def store(tmp_path: Path) -> Path:
    store = Store(tmp_path / "store")
    store.ensure_datastore(DS, "local")
    doc = {"Patient": {"DICOM": {"PatientName": SECRET, "PatientID": "P1"}},
           "Study": {"DICOM": {"StudyDescription": "OLD", "StudyInstanceUID": "1.2.3"}}}
    store.put_image_set(DS, IS, doc, is_primary=False)
    return tmp_path / "store"


@pytest.mark.slow
def test_nothing_the_tool_writes_in_the_repository_reaches_git(tmp_path: Path, store: Path,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    """The issue's hour, in a repository set up by init: plan --out, apply (journal), import, drift --state. Then
    git sees only the files init wrote, and none of them holds the patient's name."""
    for name in ("RECONCILER_LOCAL", "CI", "RECONCILER_STATE_KEY"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("RECONCILER_REDACTION_KEY", "k" * 40)
    repo = tmp_path / "repo"
    assert run("init", str(repo))[0] == 0
    git(repo, "init", "-q")
    monkeypatch.chdir(repo)
    spec = (repo / "specs" / "example.yaml").read_text().replace(
        "datastoreId: 00000000000000000000000000000000", f"datastoreId: {DS}").replace(
        "imageSetId: 00000000000000000000000000000000", f"imageSetId: {IS}")
    (repo / "specs" / "example.yaml").write_text(spec.replace("CT HEAD WITHOUT CONTRAST", "NEW") +
                                                 f"  Patient:\n    DICOM:\n      PatientName: {SECRET}\n")
    local = ["--local", str(store)]
    assert run("plan", "specs", *local, "--out", "fix.plan", "--show-phi")[0] == 0
    assert SECRET in (repo / "fix.plan").read_text()  # a saved plan holds patient data
    assert run("apply", "fix.plan", *local)[0] == 0
    assert any((repo / ".reconciler").rglob("*.jsonl"))
    assert run("import", "--datastore-id", DS, "--image-set-id", IS, "--out", "imported/", *local)[0] == 0
    assert SECRET in next((repo / "imported").glob("*.yaml")).read_text()
    code, _out, err = run("drift", "specs", *local, "--state", "drift.state")
    assert code == 0, err
    assert (repo / "drift.state").exists()
    seen = {line[3:] for line in git(repo, "status", "--porcelain", "--untracked-files=all").splitlines()}
    assert seen == {".gitignore", "README.md", "specs/example.yaml", "schemas/spec.schema.json",
                    *CI_FILES["github"]}
    assert not any(SECRET in (repo / name).read_text() for name in seen - {"specs/example.yaml"})
