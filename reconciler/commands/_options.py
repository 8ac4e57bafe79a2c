"""The command-line options that the commands share (backend, rate, targeting, wait, patient data, blob limit) and
turning them into validated values. Re-exported by ``commands._common``, the one module commands share."""

from __future__ import annotations

import argparse
import os
from collections.abc import Mapping

from reconciler.client.backends import BackendOptions
from reconciler.errors import UsageError
from reconciler.ratelimit import parse_limits

ALLOW_SHARED_PHI = "--allow-phi-in-shared-output"


def add_backend_options(parser: argparse.ArgumentParser) -> None:
    """Where requests go (real AWS, an endpoint URL, or the embedded emulator), on every command that
    talks to HealthImaging."""
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
        help="use the embedded emulator on the existing store in DIR, in process (env RECONCILER_LOCAL); "
        "create a store with `reconciler emulator import-dicom` or `load`",
    )
    # bounded waits on a dead or silent endpoint (each attempt; retries are bounded separately)
    group.add_argument("--connect-timeout", metavar="SECONDS", type=float, default=10.0,
                       help="give up connecting to the endpoint after this long (default 10)")
    group.add_argument("--read-timeout", metavar="SECONDS", type=float, default=60.0,
                       help="give up waiting for an answer after this long (default 60)")


def add_datastore_option(parser: argparse.ArgumentParser, what: str) -> None:
    """``--datastore-id D``, which the command needs. Not required by the parser: without it the command asks
    the backend (``commands._common.datastore_id``) so that the error can name the datastore to pass."""
    parser.add_argument("--datastore-id", metavar="D",
                        help=f"{what}; required (without it, the error names the datastore to pass when there is one)")


def add_rate_options(parser: argparse.ArgumentParser) -> None:
    """Client-side rate limits and parallelism."""
    group = parser.add_argument_group("rate")
    group.add_argument(
        "--rate",
        metavar="OPERATION=TPS[:BURST]",
        action="append",
        default=[],
        help="cap one operation at TPS requests per second, repeatable, e.g. UpdateImageSetMetadata=1 (* for "
        "every operation); BURST is how many may go at once (default: one second's worth, at least 1; give :1 "
        "for a server that allows a burst of 1). Without it, each operation learns its rate from the answers, "
        "starting from the rate learned for the account in an earlier run (.reconciler/rates.json) or the "
        "documented HealthImaging quota; a --local store is not paced unless --rate asks",
    )
    group.add_argument(
        "--parallelism",
        metavar="N",
        type=int,
        default=8,
        help="requests in flight at once (default 8)",
    )


def add_targeting_options(p: argparse.ArgumentParser) -> None:
    """``--target`` and ``--exclude`` (plan, apply, drift), as terraform's -target and OpenTofu's -exclude."""
    group = p.add_argument_group("targeting (applied once every select is resolved)")
    group.add_argument("--target", action="append", default=[], metavar="IMAGE_SET_ID|FILE",
                       help="plan only this image set, or every image set the documents of this spec file (or "
                       "folder) target; repeatable. The plan lists what was left out")
    group.add_argument("--exclude", action="append", default=[], metavar="IMAGE_SET_ID|FILE",
                       help="leave this image set out, or every image set the documents of this spec file (or "
                       "folder) target; repeatable, applied after --target. An argument that matches nothing "
                       "is an error")


BLOB_LIMIT_ENV = "RECONCILER_BLOB_LIMIT"
_MIN_BLOB_LIMIT = 100  # below this not even one attribute fits beside the blob's SchemaVersion


def add_blob_limit_option(p: argparse.ArgumentParser) -> None:
    """The largest blob a planned request may carry (each of updatableAttributes and removableAttributes)."""
    from reconciler.plan.requests import BLOB_LIMIT

    p.add_argument(
        "--blob-limit",
        metavar="BYTES",
        type=int,
        default=None,
        help=f"split requests so that no updatableAttributes or removableAttributes blob is over BYTES "
        f"(default {BLOB_LIMIT:,}, the documented per-blob maximum; env {BLOB_LIMIT_ENV}); raise it only "
        "when the account's UpdateImageSetMetadata payload quota was raised",
    )


def blob_limit(args: argparse.Namespace) -> int:
    """``--blob-limit``, else ``RECONCILER_BLOB_LIMIT``, else the documented 10,000 (UsageError when bad)."""
    from reconciler.plan.requests import BLOB_LIMIT

    given: int | None = getattr(args, "blob_limit", None)
    where = "--blob-limit"
    if given is None:
        text = os.environ.get(BLOB_LIMIT_ENV, "").strip()
        if not text:
            return BLOB_LIMIT
        where = BLOB_LIMIT_ENV
        try:
            given = int(text)
        except ValueError:
            raise UsageError(f"{BLOB_LIMIT_ENV}={text!r}: not a whole number of bytes") from None
    if given < _MIN_BLOB_LIMIT:
        raise UsageError(f"{where} {given}: must be at least {_MIN_BLOB_LIMIT} bytes")
    return given


def add_wait_option(p: argparse.ArgumentParser) -> None:
    """How long one update may keep an image set LOCKED before it is reported failed."""
    p.add_argument(
        "--wait-timeout",
        metavar="SECONDS",
        type=float,
        default=900.0,
        help="give up waiting for one update to leave LOCKED after this long (default 900)",
    )


def parse_select(text: str) -> tuple[str, str]:
    """``--select KEY=VALUE`` as (KEY, VALUE); UsageError naming the option (never the value) when malformed."""
    key, sep, value = text.partition("=")
    if not sep or not key or not value:
        raise UsageError("--select: expected KEY=VALUE, e.g. DICOMPatientId=P1")
    return key, value


def backend_from_args(args: argparse.Namespace) -> BackendOptions:
    """The validated backend and rate options of a parsed command line (UsageError when bad).

    A ``--local`` directory (or ``RECONCILER_LOCAL``) must already hold a store: these commands read
    or update one, and a mistyped path must not quietly become a new, empty store.
    """
    store_dir, origin = local_store(getattr(args, "local", None) or None)
    parallelism = getattr(args, "parallelism", 8)
    if parallelism is None or parallelism < 1:
        raise UsageError(f"--parallelism {parallelism}: must be at least 1")
    limits = parse_limits(getattr(args, "rate", None) or [])  # parsed once: rates and bursts
    options = BackendOptions(
        region=getattr(args, "region", None) or None,
        profile=getattr(args, "profile", None) or None,
        endpoint_url=getattr(args, "endpoint_url", None) or None,
        local_dir=store_dir,
        rates={op: tps for op, (tps, _burst) in limits.items()},
        bursts={op: burst for op, (_tps, burst) in limits.items() if burst is not None},
        parallelism=parallelism,
        connect_timeout=getattr(args, "connect_timeout", 10.0),
        read_timeout=getattr(args, "read_timeout", 60.0),
    ).validate()
    if options.local_dir is not None:
        require_store(options.local_dir, origin=origin)
    return options


def local_store(flag: str | None, environ: Mapping[str, str] = os.environ) -> tuple[str | None, str]:
    """The emulator store of a run as an absolute path, resolved once, at start, against the current
    folder (so a relative RECONCILER_LOCAL means the same store in every message), and where it came
    from: ``--local DIR``, or ``RECONCILER_LOCAL=VALUE`` as it was set."""
    if flag is not None:
        return absolute(flag), f"--local {flag}"
    value = environ.get("RECONCILER_LOCAL") or None
    return (absolute(value), f"RECONCILER_LOCAL={value}") if value else (None, "")


def absolute(directory: str) -> str:
    return directory if not directory.strip() else os.path.abspath(os.path.expanduser(directory))


def require_store(directory: str, *, serve: bool = False, origin: str = "") -> None:
    """UsageError unless DIRECTORY (absolute) holds an emulator store; nothing is created either way."""
    from reconciler.emulator.store import has_store  # late: AWS users never load the emulator

    if has_store(directory):
        return
    why = "" if os.path.isdir(directory) else " (no such directory)"
    also = f", or start an empty one with `reconciler emulator serve --local {directory} --init`" if serve else ""
    raise UsageError(
        f"no emulator store in {directory}{why}; create one with `reconciler emulator import-dicom "
        f"--local {directory} --datastore-id D PATH...` or `reconciler emulator load --local {directory} ...`"
        f"{also}",
        hint=_origin_hint(origin),
    )


def _origin_hint(origin: str) -> str | None:
    """Where the directory came from; for a relative one, what it was read against and how to fix it."""
    if not origin:
        return None
    value = origin.partition("=")[2] if origin.startswith("RECONCILER_LOCAL=") else origin.partition(" ")[2]
    if os.path.isabs(os.path.expanduser(value)):
        return f"the directory comes from {origin}"
    fix = (f"`export RECONCILER_LOCAL=\"$PWD/{value}\"` in the folder that holds {value}"
           if origin.startswith("RECONCILER_LOCAL=") else "its absolute path")
    return (f"the directory comes from {origin}, relative to the current folder {os.getcwd()}; if the store "
            f"is elsewhere, give {fix}")


def add_phi_options(parser: argparse.ArgumentParser, when: str = "", *, what: str | None = None) -> None:
    """``--show-phi`` and the flag it needs where output is usually shared (``check_phi_output``)."""
    parser.add_argument("--show-phi", action="store_true", help=what or f"{when}show patient-identifying values "
                        "and UIDs instead of fingerprints (local use only)")
    parser.add_argument(ALLOW_SHARED_PHI, action="store_true",
                        help="with --show-phi: allow it with --format markdown or in CI (CI=true), where output "
                        "usually becomes a pull-request comment or a job log that others read")


def check_phi_output(args: argparse.Namespace) -> None:
    """Refuse --show-phi where output is usually shared, unless --allow-phi-in-shared-output says so too.
    Raised before anything is read."""
    if getattr(args, "show_phi", False) and not getattr(args, "allow_phi_in_shared_output", False):
        from reconciler.render.redact import shared_output  # late: only --show-phi needs the redactor here

        where = shared_output(getattr(args, "format", None))
        if where is not None:
            raise UsageError(f"--show-phi refused: {where}",
                             hint=f"leave out --show-phi, or add {ALLOW_SHARED_PHI} if this output stays private")
