"""`reconciler show`: print a saved plan, as ``terraform show PLANFILE`` does"""

from __future__ import annotations

import argparse
from typing import Any

from reconciler.commands import SUMMARIES
from reconciler.commands._common import Context, add_phi_options
from reconciler.persist import is_s3, split_s3
from reconciler.plan.planfile import load_plan
from reconciler.render.binding import binding_lines


def register(sub: Any) -> None:
    p: argparse.ArgumentParser = sub.add_parser(
        "show",
        help=SUMMARIES["show"],
        description="Read a plan saved by `plan --out` (a local file or s3://BUCKET/KEY; its digests are "
        "checked) and print it as `plan` did, with the fingerprints the plan showed, then the git commit and the "
        "spec files it was made from (JSON: \"specs\"). Nothing is sent to HealthImaging. "
        "Exit 0 when shown, 1 when the plan cannot be read or was modified.",
    )
    p.add_argument("planfile", metavar="PLANFILE", help="a saved plan: a local file or s3://BUCKET/KEY")
    p.add_argument("--format", choices=["text", "json", "markdown"], default="text",
                   help="text (default), JSON (schemas/plan.schema.json) or markdown for a pull-request comment")
    add_phi_options(p)
    p.set_defaults(func=run)


def run(ctx: Context) -> int:
    path = ctx.args.planfile
    if is_s3(path):
        split_s3(path)  # a bad URL is a usage error, before any request
    plan, etag = load_plan(path, ctx.storage)  # PlanFileError (exit 1) when unreadable, not a plan, or modified
    if etag is not None:
        print(f"Read the saved plan {path} (ETag {etag}, digest checked).", file=ctx.streams.err)
    ctx.redactor.learn(plan.fingerprints)  # its values as the plan showed them
    ctx.streams.out.write(ctx.reporter.plan(plan))
    if ctx.args.format == "text":  # JSON has them as "specs"
        print("\n" + "\n".join(binding_lines(plan.specs)), file=ctx.streams.out)
    return 0
