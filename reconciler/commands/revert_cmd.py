"""`reconciler revert`: restore an earlier version of an image set (as a new version)"""

from __future__ import annotations

import argparse
from typing import Any

from reconciler.apply.revert import plan_revert, run_revert
from reconciler.apply.waiter import WaitPolicy
from reconciler.commands._common import Streams, add_backend_options, add_rate_options, api_from_args
from reconciler.commands.apply_cmd import add_wait_option, confirm
from reconciler.plan.versiondiff import diff_versions
from reconciler.render.redact import Redactor
from reconciler.render.versions import revert_preview


def register(sub: Any) -> None:
    p: argparse.ArgumentParser = sub.add_parser(
        "revert",
        help="restore an earlier version of an image set (as a new version)",
        description="Show what the new version will change compared with the current one (redacted unless "
        "--show-phi), then, once confirmed, send revertToVersionId guarded by the current version, wait until "
        "the image set is ACTIVE again, and verify that its metadata equals the chosen version's.",
    )
    p.add_argument("--datastore-id", required=True, metavar="D")
    p.add_argument("--image-set-id", required=True, metavar="I")
    p.add_argument("--to-version", required=True, metavar="N")
    p.add_argument("--auto-approve", action="store_true", help="do not ask for confirmation")
    p.add_argument("--show-phi", action="store_true", help="show patient-identifying values (local use only)")
    add_wait_option(p)
    add_backend_options(p)
    add_rate_options(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace, streams: Streams) -> int:
    api = api_from_args(args)
    policy = WaitPolicy(timeout=args.wait_timeout)
    plan = plan_revert(api, args.datastore_id, args.image_set_id, str(args.to_version), policy)
    print(
        f"Image set {plan.image_set_id} is at version {plan.current_version}; reverting to version "
        f"{plan.to_version} creates a new version with that content.",
        file=streams.out,
    )
    # shown before the confirmation rule, so that a refusal without a terminal still says what it would do
    changes = diff_versions(plan.current, plan.target)
    redactor = Redactor(show_phi=bool(args.show_phi))
    print("\n".join(revert_preview(plan.current_version, plan.to_version, changes, redactor)), file=streams.out,
          flush=True)
    if not confirm(streams, args.auto_approve, "revert", ask=True):
        print("Revert cancelled.", file=streams.err)
        return 1
    result = run_revert(api, plan, policy)
    print(result.text(), file=streams.out if result.status == "reverted" else streams.err)
    return result.exit_code
