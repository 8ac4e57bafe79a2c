"""`make demo`: seed a local emulator store from the DICOM files inside pydicom, show it, plan specs/.

Runs on a fresh clone with no AWS account: the store lives in ``$RECONCILER_LOCAL`` (the Makefile sets
``.demo/store``) and is seeded once; later runs reuse it. Patient-identifying attributes are not printed.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any, TextIO

DEMO_DATASTORE = "demo0000000000000000000000000000"
DEFAULT_STORE = ".demo/store"
SHOWN = ("Modality", "Manufacturer", "BodyPartExamined")  # series attributes that identify nobody


def pydicom_test_files() -> Path:
    """The folder of DICOM files that ship inside the pydicom wheel (no download involved)."""
    import pydicom.data

    return Path(pydicom.data.__file__).parent / "test_files"


def seed(store_dir: str, out: TextIO) -> None:
    """Import pydicom's bundled files into the demo datastore unless it already holds image sets."""
    from reconciler.emulator.dicom_import import import_dicom
    from reconciler.emulator.errors import NotFoundError
    from reconciler.emulator.store import Store

    store = Store(store_dir)
    try:
        existing = store.latest_documents(DEMO_DATASTORE, now=time.time())
    except NotFoundError:
        existing = []
    if existing:
        print(f"Reusing the seeded store in {store_dir} ({len(existing)} image sets).", file=out)
        return
    skipped: list[str] = []
    results = import_dicom(store, DEMO_DATASTORE, [pydicom_test_files()], warn=skipped.append)
    print(f"Seeded {store_dir}: {len(results)} image sets from pydicom's bundled DICOM files "
          f"({len(skipped)} other files skipped: not DICOM images).", file=out)


def show(store_dir: str, out: TextIO) -> None:
    """One line per image set: ID, version, state, counts and a few non-identifying attributes."""
    from reconciler.emulator.store import Store

    rows = Store(store_dir).latest_documents(DEMO_DATASTORE, now=time.time())
    print(f"\nDatastore {DEMO_DATASTORE}: {len(rows)} image sets\n", file=out)
    print(f"  {'image set ID':32}  {'ver':>3}  {'state':6}  {'series':>6}  {'inst':>4}  attributes", file=out)
    for row, doc in sorted(rows, key=lambda r: r[0].image_set_id):
        series = doc.get("Study", {}).get("Series", {})
        instances = sum(len(s.get("Instances", {})) for s in series.values())
        print(f"  {row.image_set_id}  {row.version:>3}  {row.state:6}  {len(series):>6}  {instances:>4}  "
              f"{_attributes(series)}", file=out)


def _attributes(series: dict[str, Any]) -> str:
    first_series: dict[str, Any] = next(iter(series.values()), {})
    first: dict[str, Any] = first_series.get("DICOM", {})
    shown = {k: first.get(k) for k in SHOWN if first.get(k) not in (None, "")}
    return ", ".join(f"{k}={str(v).strip()}" for k, v in shown.items())


def plan_specs(store_dir: str, specs: Path, out: TextIO, err: TextIO) -> int | None:
    """Run `reconciler plan SPECS --local STORE` if there are specs; None when it cannot run."""
    if not any(specs.rglob("*.y*ml")):
        print(f"\n(no specs in {specs}: nothing to plan)", file=out)
        return None
    from reconciler.cli import main as cli_main
    from reconciler.commands._common import Streams

    print(f"\n$ reconciler plan {specs} --local {store_dir}\n", file=out, flush=True)
    try:
        return cli_main(["plan", str(specs), "--local", store_dir], Streams(out=out, err=err, inp=None))
    except Exception as exc:  # the planner may still be under construction: the demo must not crash
        print(f"(plan is not available yet: {type(exc).__name__})", file=out)
        return None


def main(argv: Sequence[str] | None = None, out: TextIO | None = None, err: TextIO | None = None) -> int:
    """Seed, show, plan. Returns 0 unless seeding failed (the plan's own exit code is reported)."""
    from reconciler.errors import ReconcilerError

    out = out or sys.stdout
    err = err or sys.stderr
    args = list(argv if argv is not None else sys.argv[1:])
    store_dir = os.environ.get("RECONCILER_LOCAL") or DEFAULT_STORE
    specs = Path(args[0]) if args else _specs_dir()
    try:
        seed(store_dir, out)
        show(store_dir, out)
    except (ReconcilerError, OSError) as exc:
        print(f"error: {exc}", file=err)
        return 1
    code = plan_specs(store_dir, specs, out, err)
    if code is not None:
        meaning = {0: "success", 1: "error", 2: "changes pending"}.get(code, "unexpected")
        print(f"\n(plan exit code {code}: {meaning})", file=out)
    return 0


def _specs_dir() -> Path:
    here = Path("specs")
    return here if here.is_dir() else Path(__file__).resolve().parents[1] / "specs"


if __name__ == "__main__":
    sys.exit(main())

