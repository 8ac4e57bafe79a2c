"""What ``show PLANFILE`` prints about the spec files a saved plan was made from (paths and digests: no
values), so that a reviewer can tell which commit and which files the plan applies."""

from __future__ import annotations

from reconciler.plan.binding import SpecBinding


def binding_lines(specs: SpecBinding | None) -> list[str]:
    if specs is None:
        return ["Made from: not recorded (a plan saved by an older reconciler); apply cannot check its spec files."]
    if specs.commit is None:
        made = "Made from: spec files outside a git work tree (paths from the working folder)"
    else:
        made = f"Made from: commit {specs.commit}" + (" (the work tree was dirty)" if specs.dirty else "")
    width = max((len(f.path) for f in specs.files), default=0)
    return [made, f"Spec files ({len(specs.files)}, sha256):",
            *(f"  {f.path.ljust(width)}  {f.sha256[:16]}" for f in specs.files)]
