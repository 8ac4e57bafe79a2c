"""`reconciler import`: write a spec from live metadata (adopt an existing image set)"""

from __future__ import annotations

import argparse
import os
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from reconciler.api import STUDY_KEY, HealthImagingAPI, study_image_sets
from reconciler.commands import SUMMARIES
from reconciler.commands._common import (
    Context,
    add_backend_options,
    add_datastore_option,
    add_rate_options,
    datastore_id,
    parse_select,
    schema_ref,
)
from reconciler.errors import ReconcilerError, UsageError
from reconciler.padding import unpadded
from reconciler.plan.adopt import LEVELS, Origin, build_spec, parse_levels
from reconciler.plan.fetch import Work, read_live
from reconciler.plan.patientlevel import PATIENT_KEY, patient_specs

TARGET_BY = ("image-set-id", "study", "patient")


def register(sub: Any) -> None:
    help_text = SUMMARIES["import"]
    p: argparse.ArgumentParser = sub.add_parser(
        "import", help=help_text,
        description=help_text + ". The spec manages every attribute of the chosen levels at its live value, "
        "so `reconciler plan` on it shows no changes. It holds patient data: files are written with mode 0600.")
    add_datastore_option(p, "the datastore to read from")
    target = p.add_mutually_exclusive_group(required=True)
    target.add_argument("--image-set-id", metavar="I", help="the image set to write a spec for")
    target.add_argument("--select", metavar="KEY=VALUE", help="a SearchImageSets equality key, e.g. DICOMPatientId=P1")
    p.add_argument("--target-by", choices=TARGET_BY, default="image-set-id",
                   help="how the written spec finds its image set: image-set-id (target.imageSetId, the default); "
                   f"study (target.select.{STUDY_KEY}), which keeps matching after a replacement promotes a copy "
                   "of a primary image set under a new image set ID, refused when the study holds other image sets; "
                   f"or patient (target.select.{PATIENT_KEY}): one document per patient, managing the Patient level "
                   "that all the patient's image sets share")
    p.add_argument("--levels", default=None,
                   help="which levels to include, comma-separated (default: patient,study,series,instance; "
                   "with --target-by patient: patient, the only one)")
    p.add_argument("--out", metavar="DIR",
                   help="write one file per image set, DIR/<imageSetId>.yaml (with --target-by patient, one per "
                   "patient, DIR/patient-<its first image set ID>.yaml; default: stdout; needed for --select)")
    add_backend_options(p)
    add_rate_options(p)
    p.set_defaults(func=run)


def run(ctx: Context) -> int:
    args, streams = ctx.args, ctx.streams
    by_patient = args.target_by == "patient"
    levels = parse_levels(args.levels or ("patient" if by_patient else ",".join(LEVELS)))
    if by_patient and levels != {"patient"}:
        raise UsageError("import --target-by patient writes the Patient level only: a select by patient ID reaches "
                         "every image set of the patient, whose other levels differ",
                         hint="leave out --levels, or import the other levels with --target-by image-set-id")
    args.datastore_id = datastore_id(ctx)
    if args.select and not args.out:
        raise UsageError("import --select needs --out DIR (one spec file per image set found)")
    select = parse_select(args.select) if args.select else None
    api = ctx.api
    if select is not None:
        works = [Work(args.datastore_id, h.image_set_id, h.version, ())
                 for h in api.search_image_sets(args.datastore_id, *select)]
        if not works:
            print(f"import: no image set in datastore {args.datastore_id} matches {select[0]}; nothing written",
                  file=streams.err)
            return 1
    else:
        works = [Work(args.datastore_id, args.image_set_id, None, ())]
    ordered = tuple(level for level in LEVELS if level in levels)
    reads = [(work, read_live(api, work)) for work in works]
    if by_patient:
        out_dir = Path(args.out) if args.out else None
        return _write_all(ctx, patient_specs(api, args.datastore_id, reads, _now(), out_dir, schema_ref))
    # every target is checked before any file is written
    selects = {work.image_set_id: _study_select(api, work, read.document or {})
               for work, read in reads} if args.target_by == "study" else {}
    specs: list[tuple[Path | None, str]] = []
    for work, read in reads:
        version, live = read.version, read.document or {}
        target_file = Path(args.out) / f"{work.image_set_id}.yaml" if args.out else None
        origin = Origin(work.datastore_id, work.image_set_id, version, _now(), ordered, schema_ref(target_file),
                        selects.get(work.image_set_id))
        specs.append((target_file, build_spec(origin, live, levels)))
    return _write_all(ctx, specs)


def _write_all(ctx: Context, specs: list[tuple[Path | None, str]]) -> int:
    """Write each spec text to its file (mode 0600, never over an existing one), or to stdout without one."""
    streams, written = ctx.streams, []
    for target_file, text in specs:
        if target_file is None:
            streams.out.write(text)
            print("import: the spec above holds patient data; store it where patient data may be kept",
                  file=streams.err)
        else:
            _write_private(target_file, text)
            written.append(str(target_file))
    if written:
        print(f"import: wrote {len(written)} spec file{'s' if len(written) != 1 else ''} to {ctx.args.out} "
              "(mode 0600: they hold patient data)", file=streams.err)
    return 0


def _study_select(api: HealthImagingAPI, work: Work, live: Mapping[str, Any]) -> tuple[str, str]:
    """The ``select`` that finds WORK's image set by its study, once SearchImageSets shows that it finds that
    image set alone (a study's other image sets would be planned against this spec too). Errors name IDs
    and the key, never the UID (patient data)."""
    study = live.get("Study")
    dicom = study.get("DICOM") if isinstance(study, Mapping) else None
    uid = unpadded(dicom.get("StudyInstanceUID")) if isinstance(dicom, Mapping) else None
    where = f"image set {work.image_set_id} (datastore {work.datastore_id})"
    if not uid:
        raise ReconcilerError(f"{where} has no Study.DICOM.StudyInstanceUID to select it by",
                              hint="import it with --target-by image-set-id")
    found = sorted({h.image_set_id for h in study_image_sets(api, work.datastore_id, uid)})
    if found != [work.image_set_id]:
        others = [i for i in found if i != work.image_set_id]
        what = (f"also finds {', '.join(others)}" if others else "does not find it")
        raise ReconcilerError(f"{where}: a select by {STUDY_KEY} {what}; nothing written",
                              hint="a select target must find this image set alone: import it with "
                              "--target-by image-set-id")
    return STUDY_KEY, uid


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _write_private(path: Path, text: str) -> None:
    """Create PATH with mode 0600; an existing file is never overwritten (it may hold your edits)."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        raise ReconcilerError(f"{path}: already exists; not overwritten",
                              hint="remove it or choose another --out") from None
    except OSError as exc:
        raise ReconcilerError(f"{path}: cannot write the spec ({exc.strerror})") from None
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(text)
