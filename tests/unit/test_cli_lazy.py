"""The CLI builds only the command that runs (and imports only its module), and nobody can tell from what it
prints: every --help, the bare command list and the did-you-mean of a mistyped command are the ones the
parser of every command (``build_parser()``) renders."""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import pkgutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

import reconciler.commands
from reconciler.cli import build_parser, command_of, main
from reconciler.commands import SUMMARIES
from reconciler.commands._common import Streams

ROOT = Path(__file__).resolve().parents[2]


def commands(parser: argparse.ArgumentParser, words: tuple[str, ...] = ()) -> Iterator[tuple[str, ...]]:
    """The words of every (sub)command PARSER has, itself included: (), (plan,), (emulator, serve), ..."""
    yield words
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield from commands(sub, (*words, name))


EAGER = build_parser()
EVERY = sorted(commands(EAGER))


def eager(argv: list[str]) -> tuple[int, str]:
    """What the parser of every command prints for ARGV (a --help), and its exit code."""
    out = io.StringIO()
    with contextlib.redirect_stdout(out), pytest.raises(SystemExit) as exc:
        build_parser().parse_args(argv)
    return int(exc.value.code or 0), out.getvalue()


def lazy(argv: list[str]) -> tuple[int, str, str]:
    """What ``main`` (which builds only the command it runs) prints for ARGV: exit code, stdout, stderr."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out):  # argparse writes --help to sys.stdout
        code = main(argv, Streams(out=out, err=err, inp=None))
    return code, out.getvalue(), err.getvalue()


@pytest.fixture(autouse=True)
def _columns(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "80")  # argparse wraps help at the terminal's width: one width for both


def test_the_commands_are_the_command_modules() -> None:
    """SUMMARIES lists every ``*_cmd`` module, so that a new command is not left out of the parser."""
    modules = {m.name.removesuffix("_cmd") for m in pkgutil.iter_modules(reconciler.commands.__path__)
               if m.name.endswith("_cmd")}
    assert set(SUMMARIES) == modules
    assert [w for w in EVERY if len(w) == 1] == sorted((name,) for name in SUMMARIES)
    assert len(EVERY) > len(SUMMARIES) + 1  # emulator and adt have subcommands of their own


@pytest.mark.parametrize("words", EVERY, ids=lambda w: " ".join(w) or "reconciler")
def test_help_is_what_the_parser_of_every_command_prints(words: tuple[str, ...]) -> None:
    code, expected = eager([*words, "--help"])
    assert code == 0
    assert expected.startswith(f"usage: {' '.join(('reconciler', *words))} ")
    for name in SUMMARIES if not words else ():
        assert f"    {name} " in expected  # the top-level help lists every command
    assert lazy([*words, "--help"]) == (0, expected, "")


def test_the_bare_command_lists_every_command() -> None:
    _code, expected = eager(["--help"])
    assert lazy([]) == (0, expected, "")


@pytest.mark.parametrize(("argv", "says"), [
    (["pln"], "unknown command 'pln' (did you mean plan?); the commands are adt, apply, drift, emulator, history, "
              "import, init, ls, plan, revert, show, validate"),
    (["emulator", "srve"], "unknown command 'srve' (did you mean serve?)"),
    (["apply", "--auto"], "unknown option --auto (did you mean --auto-approve?)"),
    (["--verison"], "unknown option --verison (did you mean --version?)"),
    (["-1", "plan"], "argument COMMAND: invalid choice: '-1' (choose from 'init', 'validate', 'plan',"),
])
def test_a_mistyped_command_or_flag_names_the_closest(argv: list[str], says: str) -> None:
    code, out, err = lazy(argv)
    assert code in (1, 2) and out == ""
    assert says in err


@pytest.mark.parametrize(("argv", "command"), [
    ([], None), (["--help"], None), (["plan", "x"], "plan"), (["--version", "ls"], "ls"), (["-", "plan"], "-"),
    (["--", "plan"], None), (["pln"], "pln"),
])
def test_the_command_of_a_command_line(argv: list[str], command: str | None) -> None:
    assert command_of(argv) == command


def loaded_by(argv: list[str]) -> set[str]:
    """The modules a fresh interpreter has loaded after running ``main(ARGV)``."""
    code = ("import json, sys\nfrom reconciler.cli import main\nmain(" + json.dumps(argv) + ")\n"
            "print(json.dumps(sorted(sys.modules)), file=sys.stderr)")
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=False)
    return set(json.loads(done.stderr.splitlines()[-1]))


def test_a_command_loads_its_own_module_only() -> None:
    """`validate` never loads another command, asyncio (only `adt listen` serves) or boto3 (it reads files)."""
    loaded = loaded_by(["validate", str(ROOT / "examples" / "tour")])
    commands_loaded = {m for m in loaded if m.startswith("reconciler.commands.") and m.endswith("_cmd")}
    assert commands_loaded == {"reconciler.commands.validate_cmd"}
    assert not {"asyncio", "boto3", "botocore"} & loaded


def test_help_loads_no_command_module() -> None:
    loaded = loaded_by(["--help"])
    assert not {m for m in loaded if m.endswith("_cmd")}
    assert not {"asyncio", "boto3", "botocore", "jsonschema"} & loaded


@pytest.mark.parametrize("argv", [["--help"], ["init", "--help"], ["adt", "read", "--help"],
                                  ["emulator", "serve", "--help"]], ids=" ".join)
def test_help_loads_no_renderer_and_no_event_loop(argv: list[str]) -> None:
    """The renderers (and the plan model they import) load when a command prints through them; asyncio when
    `adt listen` serves."""
    loaded = loaded_by(argv)
    assert not {m for m in loaded if m.startswith(("reconciler.render.", "reconciler.plan."))}
    assert not {"asyncio", "boto3", "botocore", "jsonschema"} & loaded
