"""`reconciler history`: list an image set's versions, newest first"""

from __future__ import annotations

import argparse
import json
from typing import Any

from reconciler.apply.history import history_json, history_text
from reconciler.commands._common import Streams, add_backend_options, add_rate_options, api_from_args
from reconciler.plan.versiondiff import diff_history
from reconciler.render.redact import Redactor
from reconciler.render.versions import history_diff_json, history_diff_text


def register(sub: Any) -> None:
    p: argparse.ArgumentParser = sub.add_parser(
        "history",
        help="list an image set's versions, newest first",
        description="List every version of an image set (all pages), newest first, with state, workflow "
        "status, times, message and whether it was forced; with --diff, what each version changed compared "
        "with the one before, in plan form (redacted unless --show-phi).",
    )
    p.add_argument("--datastore-id", required=True, metavar="D")
    p.add_argument("--image-set-id", required=True, metavar="I")
    p.add_argument("--format", choices=["text", "json"], default="text")
    p.add_argument("--diff", action="store_true",
                   help="show what each version changed compared with the one before (reads every version)")
    p.add_argument("--show-phi", action="store_true",
                   help="with --diff: show patient-identifying values (local use only)")
    add_backend_options(p)
    add_rate_options(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace, streams: Streams) -> int:
    api = api_from_args(args)
    versions = list(api.list_image_set_versions(args.datastore_id, args.image_set_id))
    if args.diff:
        diffs = {v: (before, changes) for v, before, changes in
                 diff_history(api, args.datastore_id, args.image_set_id, versions)}
        redactor = Redactor(show_phi=bool(args.show_phi))
        if args.format == "json":
            doc = history_diff_json(args.datastore_id, args.image_set_id, versions, diffs, redactor)
            json.dump(doc, streams.out, indent=2, ensure_ascii=False)
            streams.out.write("\n")
        else:
            lines = history_diff_text(args.datastore_id, args.image_set_id, versions, diffs, redactor)
            streams.out.write("\n".join(lines) + "\n")
        return 0
    if args.format == "json":
        json.dump(history_json(args.datastore_id, args.image_set_id, versions), streams.out, indent=2)
        streams.out.write("\n")
    else:
        streams.out.write("\n".join(history_text(args.datastore_id, args.image_set_id, versions)) + "\n")
    return 0
