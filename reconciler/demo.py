"""`make demo`: seed a local emulator store from the DICOM files inside pydicom (primary and non-primary
image sets), then validate, plan, apply and plan again the specs in specs/.

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
# Both kinds, as a real datastore holds them. The image sets whose Patient- or Series-level attributes
# the demo specs and the README tour change in place are non-primary, since AWS refuses such changes on
# a primary image set (https://docs.aws.amazon.com/healthimaging/latest/devguide/update-image-set-metadata.html):
# CT_small (specs/ct-small.yaml), the MR carotids study (specs/mr-carotids.yaml) and the head CT of the
# tour (examples/tour/). Every other one is primary, as an import makes it; the tour replaces one of
# them (examples/replace/) to fix a patient's name. IDs are derived from the study (``image_set_id_for``).
NON_PRIMARY = frozenset({"7cfd4af489c373b081bec5a5cb2c0e6e", "4a18d9d9b3e498b5a0c2afbcf44f34a7",
                         "28845c224e27535cc95af026baac871b"})


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
    results = import_dicom(store, DEMO_DATASTORE, [pydicom_test_files()], warn=skipped.append,
                           primary=lambda image_set_id: image_set_id not in NON_PRIMARY)
    primaries = sum(1 for r in results if r["isPrimary"])
    print(f"Seeded {store_dir}: {len(results)} image sets from pydicom's bundled DICOM files, {primaries} primary "
          f"and {len(results) - primaries} non-primary ({len(skipped)} other files skipped: not DICOM images).",
          file=out)


def show(store_dir: str, out: TextIO, err: TextIO) -> int:
    """The seeded image sets, as `reconciler ls` lists them (one renderer for both; no patient values)."""
    return run_cli(["ls", "--datastore-id", DEMO_DATASTORE, "--local", store_dir], out, err)


def run_cli(argv: list[str], out: TextIO, err: TextIO) -> int:
    """Echo a reconciler command the way a user would type it, then run it in process."""
    from reconciler.cli import main as cli_main
    from reconciler.commands._common import Streams

    print(f"\n$ reconciler {' '.join(argv)}\n", file=out, flush=True)
    code = cli_main(argv, Streams(out=out, err=err, inp=None))
    print(f"\n(exit code {code}{_meaning(argv, code)})", file=out, flush=True)
    return code


def _meaning(argv: list[str], code: int) -> str:
    """What an exit code that is not a failure means, where the demo shows one (README: exit codes)."""
    if code == 2 and "--detailed-exitcode" in argv:
        return ": changes are pending, which is what --detailed-exitcode reports with 2; not an error"
    return ""


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
    # The local store is paced only where --rate asks, so the apply runs at the emulator's own speed.
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

