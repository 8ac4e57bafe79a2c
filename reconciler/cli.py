"""The command line: parse, build objects once, run, and map errors to exit codes in one place."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from reconciler import __version__
from reconciler.commands import (
    apply_cmd,
    drift_cmd,
    emulator_cmd,
    history_cmd,
    import_cmd,
    ls_cmd,
    plan_cmd,
    revert_cmd,
    show_cmd,
    validate_cmd,
)
from reconciler.commands._common import Context, Streams
from reconciler.errors import ReconcilerError, UsageError


class _Parser(argparse.ArgumentParser):
    """argparse that raises instead of exiting with 2 on a usage error (2 means "changes pending")."""

    def error(self, message: str) -> None:  # type: ignore[override]
        raise UsageError(f"{self.prog}: {message} (see `{self.prog} --help`)")


COMMANDS = (validate_cmd, plan_cmd, apply_cmd, drift_cmd, show_cmd, import_cmd, history_cmd, revert_cmd, ls_cmd,
            emulator_cmd)


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="reconciler",
        description="Manage AWS HealthImaging image-set metadata as code: validate, plan, apply, drift.",
        epilog="Run `reconciler COMMAND --help` for a command's options. "
        "Use --local DIR (or RECONCILER_LOCAL) to work against the embedded emulator.",
    )
    parser.add_argument("--version", action="version", version=f"reconciler {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    for module in COMMANDS:
        module.register(sub)
    return parser


def main(argv: Sequence[str] | None = None, streams: Streams | None = None) -> int:
    """Run the CLI and return its exit code. Never raises for a user error."""
    streams = streams or Streams()
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # --help and --version
        return exc.code if isinstance(exc.code, int) else 0
    except UsageError as exc:
        print(f"error: {exc}", file=streams.err)
        return 1
    ctx: Context | None = None
    try:
        ctx = Context(args, streams)  # built once: options, client, reporter
        code: int = args.func(ctx)
        return code
    except ReconcilerError as exc:
        print(f"error: {exc}", file=streams.err)
        return exc.exit_code
    except KeyboardInterrupt:
        print("interrupted", file=streams.err)
        return 130
    finally:
        if ctx is not None:
            ctx.finish()


def main_entry() -> None:
    sys.exit(main())
