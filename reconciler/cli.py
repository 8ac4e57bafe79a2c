"""The command line: parse, build objects once, run, and map errors to exit codes in one place."""

from __future__ import annotations

import argparse
import difflib
import importlib
import sys
import time
from collections.abc import Collection, Sequence
from typing import TYPE_CHECKING, Any

from reconciler import __version__
from reconciler.commands import SUMMARIES
from reconciler.commands._common import Context, Streams
from reconciler.errors import ReconcilerError, UsageError

if TYPE_CHECKING:
    from reconciler.ratelimit import Clock, Sleep


class UnknownOption(UsageError):
    """A flag the command does not have, exactly as typed. Prefixes are never taken for a longer flag:
    `plan --show` must not widen what is shown (``--show-phi``), nor `apply --auto` approve."""

    exit_code = 2


class _Parser(argparse.ArgumentParser):
    """argparse that raises instead of exiting (a usage error is exit 1: drift and plan use 2 for their
    findings), and never takes a prefix of a flag for the flag (``allow_abbrev=False``, here and in every
    subcommand's parser, which argparse makes of this class)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs["allow_abbrev"] = False
        super().__init__(*args, **kwargs)

    def error(self, message: str) -> None:  # type: ignore[override]
        raise UsageError(f"{self.prog}: {message} (see `{self.prog} --help`)")


def _unknown_flags(parser: argparse.ArgumentParser, argv: Sequence[str]) -> UnknownOption | None:
    """The `--flag`s of ARGV that the (sub)command they follow does not have exactly, with a did-you-mean
    naming the closest flag of that command; None when every flag is known. Checked before argparse
    parses, so that no other complaint (a missing required option) hides the typo."""
    command, unknown = parser, []
    for word in argv:
        if word == "--":
            break
        subs = [a for a in command._actions if isinstance(a, argparse._SubParsersAction)]
        if subs and word in subs[0].choices:
            command = subs[0].choices[word]
        elif subs and not word.startswith("-"):
            raise _unknown_command(command, word, sorted(subs[0].choices))
        elif word.startswith("--") and word.split("=", 1)[0] not in _flags(command):
            unknown.append((command, word.split("=", 1)[0]))
    if not unknown:
        return None
    command = unknown[0][0]
    names = [name for _, name in unknown]
    guesses = [g for name in names if (g := _closest(name, command)) is not None]
    message = f"{command.prog}: unknown option{'s' if len(names) > 1 else ''} {', '.join(names)}"
    if guesses:
        message += f" (did you mean {' or '.join(dict.fromkeys(guesses))}?)"
    return UnknownOption(message + "; flags are never abbreviated, and nothing was done",
                         hint=f"see `{command.prog} --help`")


def _unknown_command(parser: argparse.ArgumentParser, word: str, known: Sequence[str]) -> UsageError:
    """A command PARSER does not have, with the closest one it has (`reconciler pln` -> plan)."""
    close = difflib.get_close_matches(word, known, n=1, cutoff=0.6)
    guess = f" (did you mean {close[0]}?)" if close else ""
    return UsageError(f"{parser.prog}: unknown command {word!r}{guess}; the commands are {', '.join(known)}",
                      hint=f"see `{parser.prog} --help`")


def _flags(parser: argparse.ArgumentParser) -> set[str]:
    return {s for a in parser._actions for s in a.option_strings}


def _closest(name: str, parser: argparse.ArgumentParser) -> str | None:
    """The flag of PARSER that NAME most likely meant: the shortest it is a prefix of, else the most similar."""
    known = sorted(s for s in _flags(parser) if s.startswith("--"))
    longer = [k for k in known if k.startswith(name)]
    if longer:
        return min(longer, key=len)
    close = difflib.get_close_matches(name, known, n=1, cutoff=0.75)
    return close[0] if close else None


def build_parser(only: Collection[str] | None = None) -> argparse.ArgumentParser:
    """The parser of every command, or with ONLY those commands built in full: the others are listed by
    name and one-line help (``reconciler --help`` and the did-you-mean of a mistyped command are the
    same), but their modules, and what those import, are never loaded. ``main`` builds the one that runs."""
    parser = _Parser(
        prog="reconciler",
        description="Manage AWS HealthImaging image-set metadata as code: validate, plan, apply, drift.",
        epilog="Run `reconciler COMMAND --help` for a command's options. "
        "Use --local DIR (or RECONCILER_LOCAL) to work against the embedded emulator.",
    )
    parser.add_argument("--version", action="version", version=f"reconciler {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, summary in SUMMARIES.items():
        if only is None or name in only:
            importlib.import_module(f"reconciler.commands.{name}_cmd").register(sub)
        else:  # listed only: never parsed into (main builds the command it runs), so no --help of its own
            sub.add_parser(name, help=summary, add_help=False)
    return parser


def command_of(argv: Sequence[str]) -> str | None:
    """The command ARGV runs, as argparse finds it: its first word that is not a flag (the top-level parser
    has no flag that takes a value; ``-`` alone is a word), None when there is none before ``--``. Where argparse
    takes another word for the command (a negative number such as ``-1``), that word names no command, and
    argparse refuses it before any command's parser is used."""
    for word in argv:
        if word == "--":
            return None
        if word == "-" or not word.startswith("-"):
            return word
    return None


def main(argv: Sequence[str] | None = None, streams: Streams | None = None, *, clock: Clock = time.monotonic,
         sleep: Sleep = time.sleep) -> int:
    """Run the CLI and return its exit code. Never raises for a user error. CLOCK and SLEEP: what the client's
    pacing and retry backoff read the time by and wait with (tests pass a fake clock; see ``Context``)."""
    streams = streams or Streams()
    words = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser([name for name in SUMMARIES if name == command_of(words)])  # only the one that runs
    try:
        unknown = _unknown_flags(parser, words)
        if unknown is not None:
            raise unknown
        args = parser.parse_args(words)
    except SystemExit as exc:  # --help and --version
        return exc.code if isinstance(exc.code, int) else 0
    except UsageError as exc:
        print(f"error: {exc}", file=streams.err)
        return exc.exit_code
    if args.command is None:  # a bare `reconciler`: what it can do, as kubectl shows
        streams.out.write(parser.format_help())
        return 0
    ctx: Context | None = None
    try:
        ctx = Context(args, streams, clock=clock, sleep=sleep)  # built once: options, client, reporter
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
