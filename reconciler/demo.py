"""`make demo`: seed a local emulator store from the DICOM files inside pydicom, then validate, plan,
apply and plan again the specs in specs/.

Runs on a fresh clone with no AWS account: the store lives in ``$RECONCILER_DEMO_STORE`` (default
``.demo/store``; a scratch store the demo owns, never ``$RECONCILER_LOCAL``) and is re-seeded on every
run, so the demo always starts from the same state. Patient-identifying attributes are not printed (plans redact them).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TextIO

DEMO_DATASTORE = "demo0000000000000000000000000000"
DEFAULT_STORE = ".demo/store"


def pydicom_test_files() -> Path:
    """The folder of DICOM files that ship inside the pydicom wheel (no download involved)."""
    import pydicom.data

    return Path(pydicom.data.__file__).parent / "test_files"


def reset(store_dir: str) -> None:
    """Start every demo from the same state: drop the demo store's database files (nothing else)."""
    for path in Path(store_dir).glob("emulator.sqlite3*"):
        path.unlink()


def seed(store_dir: str, out: TextIO) -> None:
    """Import pydicom's bundled files into the demo datastore (the store was just reset)."""
    from reconciler.emulator.dicom_import import import_dicom
    from reconciler.emulator.store import Store

    store = Store(store_dir)
    skipped: list[str] = []
    # Non-primary: the demo specs change Patient- and Series-level attributes, which AWS refuses on a
    # primary image set (https://docs.aws.amazon.com/healthimaging/latest/devguide/update-image-set-metadata.html).
    results = import_dicom(store, DEMO_DATASTORE, [pydicom_test_files()], warn=skipped.append, primary=False)
    print(f"Seeded {store_dir}: {len(results)} image sets from pydicom's bundled DICOM files "
          f"({len(skipped)} other files skipped: not DICOM images).", file=out)


def show(store_dir: str, out: TextIO, err: TextIO) -> int:
    """The seeded image sets, as `reconciler ls` lists them (one renderer for both; no patient values)."""
    return run_cli(["ls", "--datastore-id", DEMO_DATASTORE, "--local", store_dir], out, err)


def run_cli(argv: list[str], out: TextIO, err: TextIO) -> int:
    """Echo a reconciler command the way a user would type it, then run it in process."""
    from reconciler.cli import main as cli_main
    from reconciler.commands._common import Streams

    print(f"\n$ reconciler {' '.join(argv)}\n", file=out, flush=True)
    code = cli_main(argv, Streams(out=out, err=err, inp=None))
    print(f"\n(exit code {code})", file=out, flush=True)
    return code


def tour(store_dir: str, specs: Path, out: TextIO, err: TextIO) -> int:
    """Plan, apply, then plan again: the second plan must show no changes."""
    if not any(specs.rglob("*.y*ml")):
        print(f"\n(no specs in {specs}: nothing to plan)", file=out)
        return 0
    local = ["--local", store_dir]
    if run_cli(["validate", str(specs)], out, err) != 0:
        return 1
    if run_cli(["plan", str(specs), "--detailed-exitcode", *local], out, err) not in (0, 2):
        return 1
    # The emulator answers at once; the client still spaces updates at the documented 0.25/s quota.
    journal = str(Path(store_dir).parent / "journal")
    if run_cli(["apply", str(specs), "--auto-approve", "--journal", journal, *local], out, err) != 0:
        return 1
    if run_cli(["plan", str(specs), "--detailed-exitcode", *local], out, err) != 0:
        print("error: the second plan still shows changes", file=err)
        return 1
    return 0


def main(argv: Sequence[str] | None = None, out: TextIO | None = None, err: TextIO | None = None) -> int:
    """Seed a fresh store, show it, then validate, plan, apply and plan again. Returns the first failure."""
    from reconciler.emulator.errors import ApiError
    from reconciler.errors import ReconcilerError

    out = out or sys.stdout
    err = err or sys.stderr
    args = list(argv if argv is not None else sys.argv[1:])
    store_dir = os.environ.get("RECONCILER_DEMO_STORE") or DEFAULT_STORE
    specs = Path(args[0]) if args else _specs_dir()
    try:
        reset(store_dir)
        seed(store_dir, out)
    except (ReconcilerError, ApiError, OSError) as exc:
        print(f"error: {exc}", file=err)
        return 1
    if show(store_dir, out, err) != 0:
        return 1
    return tour(store_dir, specs, out, err)


def _specs_dir() -> Path:
    here = Path("specs")
    return here if here.is_dir() else Path(__file__).resolve().parents[1] / "specs"


if __name__ == "__main__":
    sys.exit(main())

