"""`reconciler history`: list an image set's versions, newest first"""

from __future__ import annotations

import argparse
from typing import Any

from reconciler.commands._common import (
    Context,
    add_backend_options,
    add_datastore_option,
    add_phi_options,
    add_rate_options,
    datastore_id,
)
from reconciler.plan.versiondiff import diff_history


def register(sub: Any) -> None:
    p: argparse.ArgumentParser = sub.add_parser(
        "history",
        help="list an image set's versions, newest first",
        description="List every version of an image set (all pages), newest first, with state, workflow "
        "status, times, message and whether it was forced; with --diff, what each version changed compared "
        "with the one before, in plan form (redacted unless --show-phi).",
    )
    add_datastore_option(p, "the datastore that holds the image set")
    p.add_argument("--image-set-id", required=True, metavar="I", help="the image set whose versions to list")
    p.add_argument("--format", choices=["text", "json"], default="text", help="output format (default text)")
    p.add_argument("--diff", action="store_true",
                   help="show what each version changed compared with the one before (reads every version)")
    add_phi_options(p, "with --diff: ")
    add_backend_options(p)
    add_rate_options(p)
    p.set_defaults(func=run)


def run(ctx: Context) -> int:
    args = ctx.args
    args.datastore_id = datastore_id(ctx)
    versions = list(ctx.api.list_image_set_versions(args.datastore_id, args.image_set_id))
    diffs = None
    if args.diff:
        diffs = {v: (before, changes) for v, before, changes in
                 diff_history(ctx.api, args.datastore_id, args.image_set_id, versions)}
    ctx.streams.out.write(ctx.reporter.history(args.datastore_id, args.image_set_id, versions, diffs))
    return 0
