"""Pieces shared by the command modules: output streams and the backend/rate options of the contract."""

from __future__ import annotations

import argparse
import os
import sys
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, TextIO

from reconciler.backend import BackendOptions
from reconciler.errors import UsageError
from reconciler.ratelimit import parse_bursts, parse_rates

if TYPE_CHECKING:
    from reconciler.aws import HealthImaging


@dataclass
class Streams:
    """Where a command writes. Tests pass StringIO objects; the CLI passes the process's streams."""

    out: TextIO = field(default_factory=lambda: sys.stdout)
    err: TextIO = field(default_factory=lambda: sys.stderr)
    inp: TextIO | None = field(default_factory=lambda: sys.stdin)

    def out_is_tty(self) -> bool:
        return isatty(self.out)

    def in_is_tty(self) -> bool:
        return self.inp is not None and isatty(self.inp)

    def err_is_tty(self) -> bool:
        return isatty(self.err)


def isatty(stream: TextIO) -> bool:
    """Whether STREAM is a terminal; False for anything that cannot tell (StringIO, closed files)."""
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False


def add_backend_options(parser: argparse.ArgumentParser) -> None:
    """The backend options of ARCHITECTURE section 2, on every command that talks to HealthImaging."""
    group = parser.add_argument_group("backend (default: real AWS with the standard credential chain)")
    group.add_argument("--region", help="AWS region (default: from the environment; us-east-1 with a custom endpoint)")
    group.add_argument("--profile", help="AWS named profile")
    group.add_argument(
        "--endpoint-url",
        metavar="URL",
        help="any HealthImaging-compatible HTTP endpoint, e.g. `reconciler emulator serve`",
    )
    group.add_argument(
        "--local",
        metavar="DIR",
        default=os.environ.get("RECONCILER_LOCAL") or None,
        help="use the embedded emulator on the existing store in DIR, in process (env RECONCILER_LOCAL); "
        "create a store with `reconciler emulator import-dicom` or `load`",
    )
    # bounded waits on a dead or silent endpoint (each attempt; retries are bounded separately)
    group.add_argument("--connect-timeout", metavar="SECONDS", type=float, default=10.0,
                       help="give up connecting to the endpoint after this long (default 10)")
    group.add_argument("--read-timeout", metavar="SECONDS", type=float, default=60.0,
                       help="give up waiting for an answer after this long (default 60)")


def add_rate_options(parser: argparse.ArgumentParser) -> None:
    """Client-side rate limits and parallelism."""
    group = parser.add_argument_group("rate")
    group.add_argument(
        "--rate",
        metavar="OPERATION=TPS[:BURST]",
        action="append",
        default=[],
        help="client-side limit for one operation, repeatable, e.g. UpdateImageSetMetadata=1; BURST is how "
        "many may go at once (default: one second's worth, at least 1; give :1 for a server that allows a "
        "burst of 1). Defaults: the documented HealthImaging quotas",
    )
    group.add_argument(
        "--parallelism",
        metavar="N",
        type=int,
        default=8,
        help="requests in flight at once (default 8)",
    )


def backend_from_args(args: argparse.Namespace) -> BackendOptions:
    """The validated backend and rate options of a parsed command line (UsageError when bad).

    A ``--local`` directory (or ``RECONCILER_LOCAL``) must already hold a store: these commands read
    or update one, and a mistyped path must not quietly become a new, empty store.
    """
    parallelism = getattr(args, "parallelism", 8)
    if parallelism is None or parallelism < 1:
        raise UsageError(f"--parallelism {parallelism}: must be at least 1")
    options = BackendOptions(
        region=getattr(args, "region", None) or None,
        profile=getattr(args, "profile", None) or None,
        endpoint_url=getattr(args, "endpoint_url", None) or None,
        local_dir=getattr(args, "local", None) or None,
        rates=parse_rates(getattr(args, "rate", None) or []),
        bursts=parse_bursts(getattr(args, "rate", None) or []),
        parallelism=parallelism,
        connect_timeout=getattr(args, "connect_timeout", 10.0),
        read_timeout=getattr(args, "read_timeout", 60.0),
    ).validate()
    if options.local_dir is not None:
        require_store(options.local_dir)
    return options


def require_store(directory: str, *, serve: bool = False) -> None:
    """UsageError unless DIRECTORY holds an emulator store; nothing is created either way."""
    from reconciler.emulator.store import has_store  # late: AWS users never load the emulator

    if has_store(directory):
        return
    why = "" if os.path.isdir(directory) else " (no such directory)"
    also = f", or start an empty one with `reconciler emulator serve --local {directory} --init`" if serve else ""
    raise UsageError(
        f"no emulator store in {directory}{why}; create one with `reconciler emulator import-dicom "
        f"--local {directory} --datastore-id D PATH...` or `reconciler emulator load --local {directory} ...`"
        f"{also}",
        hint=None if serve else "the directory comes from --local or RECONCILER_LOCAL",
    )


def api_from_args(args: argparse.Namespace) -> HealthImaging:
    """A HealthImaging client for the backend the command line chose, paced by its --rate options."""
    from reconciler.aws import HealthImaging  # late: commands that do not talk to AWS never load boto3

    return HealthImaging.from_backend(backend_from_args(args))
