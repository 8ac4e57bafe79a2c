"""A saved plan bound to what it was made from: each spec file read (its path from the root, its sha256), the
folders planned (a new spec file in one of them changes the plan), and, where the working folder is in a git
work tree, the commit checked out and whether the tree was dirty.

The root is the top of the git work tree of the working folder (``git rev-parse --show-toplevel``), or the
working folder itself outside git, both when the plan is made and when it is applied, so that a plan made in
a checkout is checked in another checkout of the same repository, wherever it lies. ``apply PLANFILE``
compares what is there now (``compare``): an edited, removed or new spec file refuses the plan, as Atlantis
refuses a plan whose pull request moved on (https://www.runatlantis.io/docs/command-requirements); where none of
the planned paths exists (a plan applied on another machine) nothing can be checked, and apply says so.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from reconciler.spec import expand_paths

_GIT_TIMEOUT = 30.0


@dataclass(frozen=True)
class SpecFile:
    path: str  # from the root, with "/" separators
    sha256: str


@dataclass(frozen=True)
class SpecBinding:
    files: tuple[SpecFile, ...]
    planned: tuple[str, ...]  # the PATH arguments, from the root: files, and folders (a new file there counts)
    folders: tuple[str, ...]  # those of them that were folders
    commit: str | None = None  # the git commit checked out (None outside git)
    dirty: bool | None = None  # a tracked file differed from the commit, or a spec file read was not committed

    def as_dict(self) -> dict[str, object]:
        return {"commit": self.commit, "dirty": self.dirty, "planned": list(self.planned),
                "folders": list(self.folders), "files": [{"path": f.path, "sha256": f.sha256} for f in self.files]}

    @classmethod
    def from_dict(cls, d: Any) -> SpecBinding | None:
        """The saved form (``as_dict``), or None when the plan records none."""
        if d is None:
            return None
        dirty = d.get("dirty")
        return cls(tuple(SpecFile(str(f["path"]), str(f["sha256"])) for f in d["files"]),
                   tuple(map(str, d["planned"])), tuple(map(str, d["folders"])),
                   None if d.get("commit") is None else str(d["commit"]), None if dirty is None else bool(dirty))


@dataclass(frozen=True)
class Comparison:
    """What ``compare`` found: changed files (path, what happened), whether anything could be checked, and
    the commit checked out now."""

    changed: tuple[tuple[str, str], ...]
    checked: bool
    commit: str | None


def bind(paths: Sequence[str], cwd: Path | None = None) -> SpecBinding:
    """The binding of a plan made from the spec files and folders PATHS (as ``plan`` expands them)."""
    here = Path(cwd or Path.cwd()).resolve()
    root, in_git = _root(here)
    files, _diagnostics = expand_paths([str(here / p) for p in paths])
    spec_files = tuple(SpecFile(_rel(Path(f), root), _sha256(Path(f))) for f in files)
    planned = tuple(_rel(here / p, root) for p in paths)
    folders = tuple(rel for p, rel in zip(paths, planned, strict=True) if (here / p).is_dir())
    inside = in_git and not any(f.path.startswith("../") for f in spec_files)
    if not inside:
        return SpecBinding(spec_files, planned, folders)
    return SpecBinding(spec_files, planned, folders, _git(root, "rev-parse", "HEAD"), _dirty(root, spec_files))


def compare(binding: SpecBinding, cwd: Path | None = None) -> Comparison:
    """The spec files of BINDING as they are now, below the root of CWD."""
    root, in_git = _root(Path(cwd or Path.cwd()).resolve())
    commit = _git(root, "rev-parse", "HEAD") if in_git else None
    present = [p for p in binding.planned if (root / p).exists()]
    if not present:
        return Comparison((), False, commit)
    recorded = {f.path: f.sha256 for f in binding.files}
    now_files, _diagnostics = expand_paths([str(root / p) for p in present])
    now = {_rel(Path(f), root): Path(f) for f in now_files}
    changed: list[tuple[str, str]] = []
    for path, digest in sorted(recorded.items()):
        if path not in now:
            changed.append((path, "removed"))
        elif _sha256(now[path]) != digest:
            changed.append((path, "edited"))
    changed.extend((path, "new") for path in sorted(now) if path not in recorded)
    return Comparison(tuple(changed), True, commit)


def _root(here: Path) -> tuple[Path, bool]:
    top = _git(here, "rev-parse", "--show-toplevel")
    return (Path(top).resolve(), True) if top else (here, False)


def _rel(path: Path, root: Path) -> str:
    return Path(os.path.relpath(path.resolve(), root)).as_posix()


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _dirty(root: Path, files: tuple[SpecFile, ...]) -> bool:
    """A tracked file that differs from the commit, or a spec file that is not committed (untracked)."""
    tracked = _git(root, "status", "--porcelain", "--untracked-files=no")
    untracked = _git(root, "status", "--porcelain", "--untracked-files=all", "--", *(f.path for f in files))
    return bool(tracked) or bool(untracked)


def _git(cwd: Path, *args: str) -> str | None:
    """The output of a git command (stripped), or None where git is missing or says no (not a work tree)."""
    try:
        run = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, timeout=_GIT_TIMEOUT,
                             check=False, stdin=subprocess.DEVNULL)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return run.stdout.strip() if run.returncode == 0 else None
