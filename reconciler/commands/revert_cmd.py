"""`reconciler revert`: restore an earlier version of an image set (as a new version)"""

from __future__ import annotations

import argparse
from typing import Any

from reconciler.apply.revert import plan_revert, run_revert
from reconciler.apply.waiter import WaitPolicy
from reconciler.commands import SUMMARIES
from reconciler.commands._common import (
    Context,
    add_backend_options,
    add_datastore_option,
    add_phi_options,
    add_rate_options,
    add_wait_option,
    confirm,
    datastore_id,
)
from reconciler.plan.versiondiff import diff_versions


def register(sub: Any) -> None:
    p: argparse.ArgumentParser = sub.add_parser(
        "revert",
        help=SUMMARIES["revert"],
        description="Show what the new version will change compared with the current one (redacted unless "
        "--show-phi), then, once confirmed, send revertToVersionId guarded by the current version, wait until "
        "the image set is ACTIVE again, and verify that its metadata equals the chosen version's.",
    )
    add_datastore_option(p, "the datastore that holds the image set")
    p.add_argument("--image-set-id", required=True, metavar="I", help="the image set to revert")
    p.add_argument("--to-version", required=True, metavar="N",
                   help="the version to restore (see `reconciler history`); it becomes a new version")
    p.add_argument("--auto-approve", action="store_true", help="do not ask for confirmation")
    add_phi_options(p, "in the preview: ")
    add_wait_option(p)
    add_backend_options(p)
    add_rate_options(p)
    p.set_defaults(func=run)


def run(ctx: Context) -> int:
    args, streams = ctx.args, ctx.streams
    args.datastore_id = datastore_id(ctx)
    policy = WaitPolicy(timeout=args.wait_timeout)
    plan = plan_revert(ctx.api, args.datastore_id, args.image_set_id, str(args.to_version), policy)
    # shown before the confirmation rule, so that a refusal without a terminal still says what it would do
    streams.out.write(ctx.reporter.revert_preview(plan, diff_versions(plan.current, plan.target)))
    streams.out.flush()
    if not confirm(streams, args.auto_approve, "revert", ask=True):
        print("Revert cancelled.", file=streams.err)
        return 1
    result = run_revert(ctx.api, plan, policy)
    (streams.out if result.status == "reverted" else streams.err).write(ctx.reporter.revert(result))
    return result.exit_code
