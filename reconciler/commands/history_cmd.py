"""`reconciler history`: list an image set's versions, newest first"""

from __future__ import annotations

import argparse
import json
from typing import Any

from reconciler.commands._common import Streams, add_backend_options, add_rate_options, api_from_args
from reconciler.render.history import history_json, history_text


def register(sub: Any) -> None:
    p: argparse.ArgumentParser = sub.add_parser(
        "history",
        help="list an image set's versions, newest first",
        description="List every version of an image set (all pages), newest first, with state, workflow "
        "status, times, message and whether it was forced.",
    )
    p.add_argument("--datastore-id", required=True, metavar="D")
    p.add_argument("--image-set-id", required=True, metavar="I")
    p.add_argument("--format", choices=["text", "json"], default="text")
    add_backend_options(p)
    add_rate_options(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace, streams: Streams) -> int:
    api = api_from_args(args)
    versions = list(api.list_image_set_versions(args.datastore_id, args.image_set_id))
    if args.format == "json":
        json.dump(history_json(args.datastore_id, args.image_set_id, versions), streams.out, indent=2)
        streams.out.write("\n")
    else:
        streams.out.write("\n".join(history_text(args.datastore_id, args.image_set_id, versions)) + "\n")
    return 0
