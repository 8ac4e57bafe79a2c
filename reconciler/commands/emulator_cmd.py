"""`reconciler emulator`: the local HealthImaging emulator (serve, load, import-dicom)."""

from __future__ import annotations

import argparse
import re
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from reconciler.commands import SUMMARIES
from reconciler.commands._common import Context, absolute, require_store
from reconciler.errors import ReconcilerError, UsageError

if TYPE_CHECKING:
    from reconciler.emulator.knobs import EmulatorConfig


def register(sub: Any) -> None:
    p: argparse.ArgumentParser = sub.add_parser(
        "emulator",
        help=SUMMARIES["emulator"],
        description="A local stand-in for the HealthImaging image-set API, backed by SQLite in DIR.",
    )
    esub = p.add_subparsers(dest="emulator_command", metavar="SUBCOMMAND")
    esub.required = True

    serve = esub.add_parser("serve", help="serve the HealthImaging API over HTTP")
    serve.add_argument("--local", required=True, metavar="DIR",
                       help="the emulator store (must exist, unless --init)")
    serve.add_argument("--init", action="store_true",
                       help="create an empty store in DIR when it has none (a store already there is kept)")
    serve.add_argument("--host", default="127.0.0.1",
                       help="the address to listen on (default 127.0.0.1: this machine only; the store holds "
                       "patient data)")
    serve.add_argument("--port", type=int, default=4566,
                       help="the TCP port to listen on (default 4566; 0: any free port)")
    serve.add_argument("--lock-seconds", type=float, default=0.0, metavar="S",
                       help="how long an update, a copy or a deletion keeps its image sets LOCKED "
                            "(default 0: each completes at once)")
    serve.add_argument("--rate", action="append", default=[], metavar="OPERATION=TPS[:BURST]",
                       help="answer ThrottlingException (HTTP 429, as AWS does) above this rate, repeatable, to "
                       "play any account; BURST is how many requests may come at once (default: one second's "
                       "worth, at least 1); :1 is strict like the documented UpdateImageSetMetadata quota "
                       "(0.25:1), 10:40 is the quota of the page's Markdown source")
    serve.add_argument("--documented-quotas", action="store_true",
                       help="enforce every documented throttling quota (UpdateImageSetMetadata, CopyImageSet and "
                            "DeleteImageSet 0.25/s with a burst of 1, reads at theirs); --rate overrides one")
    serve.add_argument("--fault", action="append", default=[], metavar="OPERATION=KIND:PROBABILITY",
                       help="inject faults; KIND is throttle, 500, drop, update_failed or copy_failed")
    serve.add_argument("--lenient-primary", action="store_true",
                       help="let UpdateImageSetMetadata change Patient/Series-level attributes and UIDs of primary "
                            "image sets (AWS refuses them; default: refuse, as documented); lifts the next two too")
    serve.add_argument("--lenient-primary-force", action="store_true",
                       help="accept force=true on a primary image set (default: refuse, 400: the update page "
                            "gives force to non-primary image sets)")
    serve.add_argument("--lenient-series-removal", action="store_true",
                       help="accept the removal of a whole series from a primary image set (default: refuse, 400: "
                            "the newer update page allows removing individual SOP instances only)")
    serve.add_argument("--lenient-promotion", action="store_true",
                       help="promote a copy into a study whose other primary image sets hold other Patient-level "
                            "metadata (default: refuse, 409, as conflicting data stays non-primary)")
    serve.add_argument("--blob-limit", type=int, default=None, metavar="BYTES",
                       help="maximum length of each DICOMUpdates blob (default 10,000; raise it to match a "
                            "raised quota)")
    serve.add_argument("--archive-after", type=float, default=None, metavar="SECONDS",
                       help="report image sets not accessed for this long as ARCHIVE_INSTANT_ACCESS "
                            "(default 30 days)")
    serve.add_argument("--region", default="us-east-1",
                       help="the region request signatures must be scoped to (default us-east-1)")
    serve.add_argument("--barrier", action="append", default=[], metavar="OPERATION=N",
                       help="for tests of racing clients: the first N requests of OPERATION wait for each other "
                            "and go on together once the N-th has arrived, so that they collide on purpose")
    serve.add_argument("--hold", action="append", default=[], metavar="OPERATION=N",
                       help="for tests of interrupted runs: requests of OPERATION after the first N wait inside the "
                            "server, unanswered and not applied, until it gets SIGUSR1 (each one logged); a server "
                            "that stops drops them")
    serve.add_argument("--omit-is-primary", action="store_true",
                       help="leave isPrimary out of GetImageSet, ListImageSetVersions and SearchImageSets answers, "
                            "as the service model allows (the field is optional; default: always send it)")
    serve.add_argument("--first-version", type=int, default=1, metavar="N",
                       help="the version a new image set made by CopyImageSet starts at (default 1; clients must "
                            "use the version each answer gives)")
    serve.set_defaults(func=run_serve)

    load = esub.add_parser("load", help="create an image set (version 1) from a metadata JSON document "
                           "(creates the store in DIR if needed)")
    load.add_argument("--local", required=True, metavar="DIR", help="the emulator store (created if DIR has none)")
    load.add_argument("--datastore-id", required=True, metavar="D",
                      help="the datastore to create it in (created if needed)")
    load.add_argument("--image-set-id", required=True, metavar="I", help="the ID of the new image set")
    load.add_argument("--non-primary", action="store_true",
                      help="load a non-primary image set (default: primary, like a first import)")
    load.add_argument("metadata", metavar="METADATA.json",
                      help="an image set metadata document, as GetImageSetMetadata returns it (gunzipped)")
    load.set_defaults(func=run_load)

    imp = esub.add_parser("import-dicom", help="turn DICOM P10 files into image sets, one per study "
                          "(creates the store in DIR if needed)")
    imp.add_argument("--local", required=True, metavar="DIR", help="the emulator store (created if DIR has none)")
    imp.add_argument("--datastore-id", required=True, metavar="D",
                     help="the datastore to import into (created if needed)")
    imp.add_argument("--non-primary", action="store_true",
                     help="create the new image sets as non-primary (default: primary, as an import does)")
    imp.add_argument("paths", nargs="+", metavar="PATH", help="DICOM files or folders")
    imp.set_defaults(func=run_import_dicom)


def run_serve(ctx: Context) -> int:
    """Serve the store over HTTP until SIGTERM/SIGINT; one log line per request on stderr."""
    from reconciler.emulator.http import serve

    args, streams = ctx.args, ctx.streams
    config = serve_config(args)
    if not args.init:  # a mistyped DIR must not become a new, empty store that answers "not found"
        require_store(absolute(args.local), serve=True, origin=f"--local {args.local}")

    def ready(url: str) -> None:
        print(f"listening on {url}", file=streams.out, flush=True)
        if args.host not in ("127.0.0.1", "localhost", "::1"):
            print(f"warning: {args.host} is reachable from other machines; the store holds patient data "
                  "and the default credentials are test/test", file=streams.err, flush=True)

    try:
        serve(args.local, args.host, args.port, config, log=streams.err, ready=ready)
    except OSError as exc:
        raise ReconcilerError(f"cannot listen on {args.host}:{args.port}: {exc.strerror or exc}") from None
    print("stopped", file=streams.err, flush=True)
    return 0


def serve_config(args: argparse.Namespace) -> EmulatorConfig:
    """The emulator's configuration from the options of `emulator serve` (UsageError when one is bad)."""
    from reconciler.emulator.knobs import (
        ARCHIVE_AFTER_SECONDS,
        BLOB_LIMIT,
        EmulatorConfig,
        documented_limits,
        parse_barrier_options,
        parse_fault_options,
        parse_hold_options,
    )
    from reconciler.ratelimit import parse_bursts, parse_rates

    blob_limit = BLOB_LIMIT if args.blob_limit is None else args.blob_limit
    archive_after = ARCHIVE_AFTER_SECONDS if args.archive_after is None else args.archive_after
    if not 0 <= args.port <= 65535:
        raise UsageError(f"--port {args.port}: must be between 0 and 65535")
    if not args.lock_seconds >= 0:
        raise UsageError(f"--lock-seconds {args.lock_seconds}: must be 0 or more")
    if blob_limit < 1:
        raise UsageError(f"--blob-limit {blob_limit}: must be 1 or more")
    if not archive_after >= 0:
        raise UsageError(f"--archive-after {archive_after}: must be 0 or more")
    if args.first_version < 1:
        raise UsageError(f"--first-version {args.first_version}: must be 1 or more")
    if not re.fullmatch(r"[a-z]{2}(-[a-z]+)+-\d+", args.region):
        raise UsageError(f"--region {args.region!r}: not a region name (e.g. us-east-1)")
    rates, bursts = parse_rates(args.rate), parse_bursts(args.rate)
    if args.documented_quotas:
        rates, bursts = documented_limits(rates, bursts)
    return EmulatorConfig(
        lock_seconds=args.lock_seconds,
        rates=rates,
        bursts=bursts,
        faults=parse_fault_options(args.fault),
        lenient_primary=args.lenient_primary,
        lenient_primary_force=args.lenient_primary_force,
        lenient_series_removal=args.lenient_series_removal,
        lenient_promotion=args.lenient_promotion,
        blob_limit=blob_limit,
        archive_after=archive_after,
        region=args.region,
        barriers=parse_barrier_options(args.barrier),
        holds=parse_hold_options(args.hold),
        omit_is_primary=args.omit_is_primary,
        first_version=args.first_version,
    )


def run_load(ctx: Context) -> int:
    """Create the datastore if needed and the image set at version 1 (primary unless ``--non-primary``);
    print the IDs as one JSON line.

    Everything is checked before the store is opened, so a bad argument leaves the store unchanged.
    """
    import json

    from reconciler.emulator.store import Store

    args, streams = ctx.args, ctx.streams
    for flag, value in (("--datastore-id", args.datastore_id), ("--image-set-id", args.image_set_id)):
        if not re.fullmatch(r"[0-9a-z]{32}", value):
            raise UsageError(f"{flag}: must be 32 characters of [0-9a-z]")
    document = _read_document(args.metadata)
    with _store_errors(args.local):
        store = Store(args.local)
        store.ensure_datastore(args.datastore_id)
        version = store.put_image_set(args.datastore_id, args.image_set_id, document,
                                      is_primary=not args.non_primary)
    ids = {"datastoreId": args.datastore_id, "imageSetId": args.image_set_id, "versionId": str(version),
           "isPrimary": not args.non_primary}
    print(json.dumps(ids), file=streams.out)
    return 0


@contextmanager
def _store_errors(directory: str) -> Iterator[None]:
    """The store's own failures as one-line errors (naming the store by its absolute path): the
    emulator's errors stand apart from ours."""
    import sqlite3

    from reconciler.emulator.errors import ApiError

    directory = absolute(directory)
    try:
        yield
    except OSError as exc:
        raise ReconcilerError(f"cannot open the emulator store in {directory}: {exc.strerror or exc}") from None
    except sqlite3.Error as exc:
        raise ReconcilerError(f"the emulator store in {directory} is unusable: {exc}") from None
    except ApiError as exc:
        raise ReconcilerError(f"emulator store {directory}: {exc.message}") from None


def _read_document(path: str) -> dict[str, Any]:
    """A metadata document from PATH; errors name the file and position, never its content."""
    import json

    try:
        with open(path, encoding="utf-8") as fh:
            document = json.load(fh)
    except OSError as exc:
        raise ReconcilerError(f"{path}: cannot read: {exc.strerror or exc}") from None
    except UnicodeDecodeError:
        raise ReconcilerError(f"{path}: not UTF-8 text") from None
    except json.JSONDecodeError as exc:
        raise ReconcilerError(f"{path}:{exc.lineno}:{exc.colno}: invalid JSON: {exc.msg}") from None
    if not isinstance(document, dict):
        raise ReconcilerError(f"{path}: a metadata document must be a JSON object")
    for level in ("Patient", "Study"):
        if not isinstance(document.get(level, {}), dict):
            raise ReconcilerError(f"{path}: {level} must be a JSON object")
    if not isinstance(document.get("Study", {}).get("Series", {}), dict):
        raise ReconcilerError(f"{path}: Study.Series must be a JSON object")
    return document


def run_import_dicom(ctx: Context) -> int:
    """Import DICOM P10 files (one image set per study) and print the image sets as JSON."""
    import json

    from reconciler.emulator.dicom_import import import_dicom
    from reconciler.emulator.store import Store

    args, streams = ctx.args, ctx.streams

    def warn(message: str) -> None:
        print(f"warning: {message}", file=streams.err)

    with _store_errors(args.local):
        store = Store(args.local)
        results = import_dicom(store, args.datastore_id, args.paths, warn=warn, primary=not args.non_primary)
    print(json.dumps(results, indent=2), file=streams.out)
    return 0
