"""`reconciler ls`: list a datastore's image sets (version, state, primary flag, storage tier, counts)"""

from __future__ import annotations

import argparse
from typing import Any

from reconciler.commands import SUMMARIES
from reconciler.commands._common import Context, add_backend_options, add_phi_options, add_rate_options, parse_select
from reconciler.errors import UsageError
from reconciler.plan.inventory import inventory

ARCHIVE = "ARCHIVE_INSTANT_ACCESS"


def register(sub: Any) -> None:
    help_text = SUMMARIES["ls"]
    p: argparse.ArgumentParser = sub.add_parser(
        "ls", help=help_text,
        description=help_text + ". Reads SearchImageSets (every page) and GetImageSet, neither of which moves an "
        "image set out of the archive tier. Without --datastore-id, lists the datastores (ID, name, status, created). "
        "No patient values unless --show-phi. Exit 0 listed, 1 error.")
    p.add_argument("--datastore-id", metavar="D",
                   help="the datastore whose image sets to list (without it: list the datastores, ListDatastores)")
    p.add_argument("--select", metavar="KEY=VALUE",
                   help="only the image sets a SearchImageSets equality key finds, e.g. DICOMPatientId=P1")
    p.add_argument("--format", choices=["text", "json"], default="text", help="output format (default text)")
    p.add_argument("--counts", action="store_true",
                   help="count series and instances in each image set's metadata instead of taking the search "
                   "summary's counts; reading metadata moves archived image sets back to Frequent Access")
    add_phi_options(p, what="add the patient ID and name (text) and show tag values unredacted (JSON); local use only")
    add_backend_options(p)
    add_rate_options(p)
    p.set_defaults(func=run)


def run(ctx: Context) -> int:
    args, streams = ctx.args, ctx.streams
    if not args.datastore_id:
        if args.select or args.counts:
            raise UsageError(f"reconciler ls: {'--select' if args.select else '--counts'} lists the image sets of "
                             "one datastore: give --datastore-id", hint="`reconciler ls` alone lists the datastores")
        streams.out.write(ctx.reporter.datastores(list(ctx.api.list_datastores())))
        return 0
    select = parse_select(args.select) if args.select else None
    if args.counts:
        print("ls --counts: reading each image set's metadata moves those in ARCHIVE_INSTANT_ACCESS back to "
              "FREQUENT_ACCESS (leave --counts out to list without moving anything)", file=streams.err)
    rows = inventory(ctx.api, args.datastore_id, select, counts=args.counts, parallelism=ctx.options.parallelism)
    streams.out.write(ctx.reporter.listing(args.datastore_id, rows, counted=args.counts))
    moved = sum(r.info.storage_tier == ARCHIVE for r in rows)
    if args.counts and moved:
        print(f"ls --counts: {moved} image set{'s' if moved != 1 else ''} listed in {ARCHIVE} "
              "moved back to FREQUENT_ACCESS by the metadata reads", file=streams.err)
    return 0
