"""``--target`` / ``--exclude``: narrow a plan to some of the image sets the specs target.

As terraform's ``-target`` (https://developer.hashicorp.com/terraform/cli/commands/plan#resource-targeting)
and OpenTofu's ``-exclude`` (https://opentofu.org/docs/cli/commands/plan/). Each argument is an image set
ID, or a spec file (or folder) standing for every image set its documents target. Targeting applies
after ``select`` targets are resolved (``plan.targets``), so a file brings every image set its selectors
find, and each image set kept is planned with all the documents that target it: a partial desired tree
would be a different desired state. ``--target`` keeps only what it names; ``--exclude`` then drops what
it names. The image sets left out are neither read nor planned, and the plan lists them.

An argument that matches nothing is an error naming it: a typo in ``--target`` would read as "no
changes", and one in ``--exclude`` would change the very image set it was meant to leave alone.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from reconciler.errors import UsageError
from reconciler.plan.fetch import Work
from reconciler.plan.model import Targeting

IMAGE_SET_ID = re.compile(r"[0-9a-z]{32}")  # the ImageSetId pattern of the API model


@dataclass(frozen=True)
class Scope:
    """The ``--target`` and ``--exclude`` arguments of one run, as given, and the spec files given (PATH...),
    so that a file argument that is not one of them is named as such."""

    targets: tuple[str, ...] = ()
    excludes: tuple[str, ...] = ()
    files: tuple[str, ...] = ()

    def __bool__(self) -> bool:
        return bool(self.targets or self.excludes)


def narrow(works: Sequence[Work], scope: Scope) -> tuple[list[Work], Targeting | None]:
    """The works SCOPE keeps, and what it left out (None when there is no targeting). UsageError, naming
    every argument that matches nothing, before anything is read."""
    if not scope:
        return list(works), None
    files = _Files(scope.files)
    problems: list[str] = []
    chosen = set() if scope.targets else set(range(len(works)))
    for flag, args in (("--target", scope.targets), ("--exclude", scope.excludes)):
        for arg in args:
            hits, why = _matching(arg, works, files)
            if not hits:
                problems.append(f"{flag} {arg}: {why}")
            elif flag == "--target":
                chosen |= hits
            else:
                chosen -= hits
    if problems:
        raise UsageError("; ".join(problems), hint="nothing was read or written")
    kept = [w for i, w in enumerate(works) if i in chosen]
    left = tuple(sorted((w.datastore_id, w.image_set_id) for i, w in enumerate(works) if i not in chosen))
    return kept, Targeting(scope.targets, scope.excludes, left)


class _Files:
    """Spec file names, compared by their resolved paths (``specs/a.yaml`` and ``./specs/a.yaml`` are one)."""

    def __init__(self, given: Sequence[str]) -> None:
        self._resolved: dict[str, Path] = {}
        self.given = {self.resolve(f) for f in given}

    def resolve(self, name: str) -> Path:
        if name not in self._resolved:
            self._resolved[name] = Path(name).resolve()
        return self._resolved[name]


def _matching(arg: str, works: Sequence[Work], files: _Files) -> tuple[set[int], str]:
    """The indices of the works ARG names, and why there are none."""
    if IMAGE_SET_ID.fullmatch(arg):
        hits = {i for i, w in enumerate(works) if w.image_set_id == arg}
        return hits, "no spec document targets this image set (nor does any select find it)"
    if not Path(arg).exists():
        return set(), "neither an image set ID (32 lowercase letters and digits) nor a spec file or folder"
    where = files.resolve(arg)
    inside = {f for f in files.given if f == where or where in f.parents}
    if not inside:
        return set(), "not one of the spec files given (PATH...), nor a folder holding one"
    hits = {i for i, w in enumerate(works) if any(files.resolve(d.file) in inside for d in w.docs)}
    return hits, "its documents target no image set (each select in them found none)"
