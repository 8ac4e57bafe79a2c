"""`reconciler init`: set up a specs repository: a .gitignore for everything the reconciler writes that can hold
patient data, an example spec with its schema, the CI workflow of choice (the shipped recipes), a short README.

It never overwrites a file: what is already there is listed as skipped, and the command still exits 0, so that
it can be run in an existing repository to add what is missing (as `git init` is safe in an existing one).
"""

from __future__ import annotations

import argparse
import os
from importlib import resources
from importlib.abc import Traversable
from pathlib import Path
from typing import Any

from reconciler.commands import SUMMARIES
from reconciler.commands._common import Context
from reconciler.errors import ReconcilerError, UsageError

# where each recipe goes in the repository: GitHub reads .github/workflows/*.yml
# (https://docs.github.com/en/actions/writing-workflows/about-workflows), GitLab .gitlab-ci.yml
# (https://docs.gitlab.com/ci/yaml/)
CI_FILES = {
    "github": {".github/workflows/reconciler-plan.yml": "ci/github/reconciler-plan.yml",
               ".github/workflows/reconciler-apply.yml": "ci/github/reconciler-apply.yml",
               ".github/workflows/reconciler-drift.yml": "ci/github/reconciler-drift.yml"},
    "gitlab": {".gitlab-ci.yml": "ci/gitlab/gitlab-ci.yml"},
}
_CI_ROWS = {
    "github": "| `.github/workflows/` | GitHub Actions: `reconciler-plan.yml` posts the plan of a pull request as one "
              "comment and saves it to S3; `reconciler-apply.yml` applies it after the merge; `reconciler-drift.yml` "
              "runs drift on a schedule. Set the CHANGE-ME values (repository URL, bucket, role ARNs) and the "
              "`RECONCILER_REDACTION_KEY` secret |",
    "gitlab": "| `.gitlab-ci.yml` | GitLab CI: the plan job posts the plan of a merge request as one note and saves it "
              "to S3, the apply job applies it on the default branch, the drift job runs on a schedule. Set the "
              "CHANGE-ME values (repository URL, bucket) and the CI/CD variables its header lists |",
}


def register(sub: Any) -> None:
    p: argparse.ArgumentParser = sub.add_parser(
        "init",
        help=SUMMARIES["init"],
        description="Write into DIR (default: the current folder, created if missing) what a specs repository "
        "needs: a .gitignore for everything the reconciler writes that can hold patient data (saved plans, "
        ".reconciler/ journals, drift states, imported/), specs/example.yaml with the schema modeline and "
        "schemas/spec.schema.json, the CI workflow of --ci, and a README saying what each file is for. An "
        "existing file is never overwritten: it is listed as skipped. Exit 0, or 1 when DIR cannot be written.",
    )
    p.add_argument("dir", nargs="?", default=".", metavar="DIR", help="the repository folder (default: .)")
    p.add_argument("--ci", choices=sorted(CI_FILES), default="github",
                   help="the CI workflow to write: github (GitHub Actions, the default) or gitlab (.gitlab-ci.yml)")
    p.set_defaults(func=run)


def files(ci: str) -> dict[str, bytes]:
    """Path in the repository -> content, for the CI of choice."""
    data = resources.files("reconciler")
    out = {".gitignore": _read(data, "scaffold/gitignore"),
           "README.md": _read(data, "scaffold/README.md").replace(b"{ci}", _CI_ROWS[ci].encode()),
           "specs/example.yaml": _read(data, "scaffold/example.yaml"),
           "schemas/spec.schema.json": _read(data, "schemas/spec.schema.json")}
    out.update({path: _read(data, f"scaffold/{source}") for path, source in CI_FILES[ci].items()})
    return out


def _read(root: Traversable, name: str) -> bytes:
    return root.joinpath(name).read_bytes()


def run(ctx: Context) -> int:
    target = Path(ctx.args.dir)
    if target.exists() and not target.is_dir():
        raise UsageError(f"{target}: not a folder", hint="name a folder to set up (it is created if missing)")
    created, skipped = [], []
    for rel, content in files(ctx.args.ci).items():
        path = target / rel
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)  # never over an existing file
        except FileExistsError:
            skipped.append(rel)
            continue
        except OSError as exc:
            raise ReconcilerError(f"{path}: cannot be written ({exc.strerror}); the files listed above were "
                                  "created") from None
        with os.fdopen(fd, "wb") as fh:
            fh.write(content)
        created.append(rel)
        print(f"  created  {rel}", file=ctx.streams.out)
    for rel in skipped:
        print(f"  skipped  {rel} (already there: left as it is)", file=ctx.streams.out)
    print(f"Set up {target} ({ctx.args.ci} CI): {len(created)} created, {len(skipped)} skipped. Next, in {target}: put "
          "your IDs in specs/example.yaml, run `reconciler validate specs/`, and read README.md.", file=ctx.streams.out)
    return 0
