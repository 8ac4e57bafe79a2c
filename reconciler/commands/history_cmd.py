"""`reconciler history`: list an image set's versions, newest first, and the replacements it took part in"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from reconciler.api import ImageSetInfo
from reconciler.apply.journal import DEFAULT_DIR
from reconciler.apply.ledger import Ledger
from reconciler.apply.lineage import Lineage, lineage, replacements
from reconciler.apply.s3journal import read_journals
from reconciler.commands import SUMMARIES
from reconciler.commands._common import (
    Context,
    add_backend_options,
    add_datastore_option,
    add_phi_options,
    add_rate_options,
    datastore_id,
)
from reconciler.errors import NotFound
from reconciler.persist import is_s3, split_s3
from reconciler.plan.versiondiff import diff_history


def register(sub: Any) -> None:
    p: argparse.ArgumentParser = sub.add_parser(
        "history",
        help=SUMMARIES["history"],
        description="List every version of an image set (all pages), newest first, with state, workflow "
        "status, times, message and whether it was forced; with --diff, what each version changed compared "
        "with the one before, in plan form (redacted unless --show-phi). A replacement's new image set names the "
        "image set it replaced, and when; a replaced, deleted one names its replacement (from the apply journals: "
        "HealthImaging keeps no such link).",
    )
    add_datastore_option(p, "the datastore that holds the image set")
    p.add_argument("--image-set-id", required=True, metavar="I", help="the image set whose versions to list")
    p.add_argument("--format", choices=["text", "json"], default="text", help="output format (default text)")
    p.add_argument("--diff", action="store_true",
                   help="show what each version changed compared with the one before (reads every version)")
    p.add_argument("--journal", metavar="PATH|s3://BUCKET/PREFIX/",
                   help="where apply wrote its journals, to find the replacements the image set took part in: a "
                   "journal file or its folder, or the S3 prefix of apply --journal (default: .reconciler/journal/, "
                   "which is always read too)")
    add_phi_options(p, "with --diff: ")
    add_backend_options(p)
    add_rate_options(p)
    p.set_defaults(func=run)


def run(ctx: Context) -> int:
    args = ctx.args
    args.datastore_id = datastore_id(ctx)
    if is_s3(args.journal):
        split_s3(args.journal, prefix=True)  # a bad URL fails before anything is read
    found = _lineage(ctx, args.datastore_id, args.image_set_id)
    try:
        versions = list(ctx.api.list_image_set_versions(args.datastore_id, args.image_set_id))
    except NotFound:  # a deleted image set: GetImageSet may still say when; a journal may name its replacement
        deleted = _deleted(ctx, args.datastore_id, args.image_set_id)
        if deleted is None and not found.replaced_by:
            raise
        ctx.streams.out.write(ctx.reporter.history(args.datastore_id, args.image_set_id, [], None, found, deleted))
        return 0
    diffs = None
    if args.diff:
        diffs = {v: (before, changes) for v, before, changes in
                 diff_history(ctx.api, args.datastore_id, args.image_set_id, versions)}
    ctx.streams.out.write(ctx.reporter.history(args.datastore_id, args.image_set_id, versions, diffs, found))
    return 0


def _lineage(ctx: Context, datastore: str, image_set_id: str) -> Lineage:
    """The replacements around IMAGE_SET_ID that the journals at hand record (the default folder, and
    --journal's folder or S3 prefix); what cannot be read is a warning, and the history is shown anyway."""
    journal = ctx.args.journal
    folders = [DEFAULT_DIR]
    if journal and not is_s3(journal):
        path = Path(journal)
        folders.append(path if path.is_dir() else path.parent)

    def warn(message: str) -> None:
        print(f"warning: {message}", file=ctx.streams.err)

    remote = (lambda local: read_journals(journal, ctx.storage, warn, skip=local)) if is_s3(journal) else None
    return lineage(replacements(Ledger(folders, remote=remote).records()), datastore, image_set_id)


def _deleted(ctx: Context, datastore: str, image_set_id: str) -> ImageSetInfo | None:
    """What GetImageSet says of a DELETED image set (HealthImaging answers it with ``deletedAt``), else None."""
    try:
        info = ctx.api.get_image_set(datastore, image_set_id)
    except NotFound:
        return None
    return info if info.state == "DELETED" else None
