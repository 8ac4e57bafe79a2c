"""Conventions every command keeps: each option has help text, the README synopsis names exactly the
options of each command's --help, the exit-code table has a row per command, and NO_COLOR turns colour
off (https://no-color.org), checked on a real terminal (a pty)."""

from __future__ import annotations

import argparse
import io
import os
import pty
import re
import select
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from reconciler.cli import build_parser
from reconciler.commands._common import use_colour
from reconciler.emulator.store import Store
from tests.support.forked import PREFIX, ForkedReconciler
from tests.support.spectext import one_value_spec

ROOT = Path(__file__).resolve().parents[2]
README = (ROOT / "README.md").read_text(encoding="utf-8")
GROUP = re.compile(r"^([A-Z]+) +(\[.*)$")  # a synopsis group: NAME [--option ...] ...
OPTION = re.compile(r"(?<![\w-])--[a-z][a-z0-9-]*")


def leaf_parsers(parser: argparse.ArgumentParser, words: tuple[str, ...] = ()) -> Iterator[
        tuple[tuple[str, ...], argparse.ArgumentParser]]:
    """(command words, parser) of every command that runs: `plan`, `emulator serve`, ..."""
    subs = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    if not subs:
        yield words, parser
        return
    for name, sub in subs[0].choices.items():
        yield from leaf_parsers(sub, (*words, name))


LEAVES = dict(leaf_parsers(build_parser()))


def options(parser: argparse.ArgumentParser) -> set[str]:
    return {s for a in parser._actions for s in a.option_strings if s.startswith("--") and s != "--help"}


@pytest.mark.parametrize("words", sorted(LEAVES), ids=" ".join)
def test_every_option_and_argument_has_help(words: tuple[str, ...]) -> None:
    missing = [a.option_strings or [a.dest] for a in LEAVES[words]._actions
               if not isinstance(a, argparse._HelpAction) and (not a.help or a.help == argparse.SUPPRESS)]
    assert missing == [], f"reconciler {' '.join(words)}: no help for {missing}"


def test_every_command_has_help_in_the_command_lists() -> None:
    """`reconciler --help`, `reconciler emulator --help` and `reconciler adt --help` say what each command does."""
    parsers = [build_parser()]
    listed = 0
    while parsers:
        for action in parsers.pop()._actions:
            if isinstance(action, argparse._SubParsersAction):
                assert all(choice.help for choice in action._choices_actions)
                listed += len(action._choices_actions)
                parsers.extend(action.choices.values())
    groups = {words[0] for words in LEAVES if len(words) > 1}
    assert groups == {"emulator", "adt"}
    assert listed == len(LEAVES) + len(groups)  # and the groups themselves


def synopsis_entries() -> dict[tuple[str, ...], str]:
    """The README's synopsis block: per command, its text with continuation lines joined and groups such
    as [BACKEND] (defined below the commands as ``NAME  [--option ...]``) expanded."""
    block = README.split("## Commands and exit codes", 1)[1].split("```\n", 2)[1]
    entries: list[list[str]] = []  # the lines of each command, or of each group definition
    groups: dict[str, list[str]] = {}
    for line in block.splitlines():
        if line.startswith("reconciler "):
            entries.append([line])
        elif (group := GROUP.match(line)) is not None:
            groups[group[1]] = [group[2]]
            entries.append(groups[group[1]])
        elif line.startswith(" ") and line.strip():
            entries[-1].append(line.strip())
    found: dict[tuple[str, ...], str] = {}
    for entry in entries:
        text = " ".join(entry)
        if not text.startswith("reconciler "):
            continue
        for name, expansion in groups.items():
            text = text.replace(f"[{name}]", " ".join(expansion))
        tokens = text.split()[1:]
        words = tuple(tokens[:2]) if tuple(tokens[:2]) in LEAVES else tuple(tokens[:1])
        assert words not in found, f"two synopsis lines for {words}"
        found[words] = text
    return found


def synopsis() -> dict[tuple[str, ...], set[str]]:
    return {words: set(OPTION.findall(text)) for words, text in synopsis_entries().items()}


def test_the_readme_synopsis_has_a_line_for_every_command_and_no_other() -> None:
    assert sorted(synopsis()) == sorted(LEAVES)


@pytest.mark.parametrize("words", sorted(LEAVES), ids=" ".join)
def test_the_readme_synopsis_names_exactly_the_options_of_help(words: tuple[str, ...]) -> None:
    named = synopsis().get(words, set())
    actual = options(LEAVES[words])
    assert (sorted(actual - named), sorted(named - actual)) == ([], []), (
        f"reconciler {' '.join(words)}: (in --help but not the README, in the README but not --help)")


@pytest.mark.parametrize("words", sorted(w for w, p in LEAVES.items() if "--format" in options(p)), ids=" ".join)
def test_the_readme_synopsis_names_the_formats_of_help(words: tuple[str, ...]) -> None:
    choices = next(a.choices for a in LEAVES[words]._actions if "--format" in a.option_strings)
    shown = re.search(r"--format ([a-z|]+)", synopsis_entries()[words])
    assert shown is not None and shown[1].split("|") == list(choices or ())


def test_the_exit_code_table_has_a_row_for_every_command() -> None:
    section = README.split("## Commands and exit codes", 1)[1].split("\n## ", 1)[0]
    rows = {line.split("|")[1].strip().strip("`") for line in section.splitlines() if line.startswith("| ")}
    commands = {words[0] for words in LEAVES}
    assert commands - rows == set()
    assert {"show", "ls", "import", "history", "revert"} <= rows


# -- NO_COLOR --------------------------------------------------------------------------------------

class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


@pytest.mark.parametrize(("environ", "colour"), [
    ({}, True),
    ({"NO_COLOR": ""}, True),  # "when present and not an empty string"
    ({"NO_COLOR": "1"}, False),
    ({"NO_COLOR": "0"}, False),  # any non-empty value, whatever it says
    ({"NO_COLOR": "false"}, False),
])
def test_the_colour_decision(environ: dict[str, str], colour: bool) -> None:
    assert use_colour(_Terminal(), environ) is colour
    assert use_colour(io.StringIO(), environ) is False  # never colour what is not a terminal


DS = "1234567890abcdef1234567890abcdef"
IS = "ea92b0d8838c72a3f25d00d13616f87e"
SPEC = one_value_spec(DS, IS, "Study", "StudyDescription", "HEAD")


def plan_on_a_terminal(tmp_path: Path, no_color: str | None) -> str:
    """`reconciler plan` in a subprocess whose stdout is a pseudo-terminal; what the terminal received."""
    store = Store(tmp_path / "store")
    store.ensure_datastore(DS)
    store.put_image_set(DS, IS, {"Study": {"DICOM": {"StudyDescription": "CHEST"}}}, replace=True)
    (tmp_path / "spec.yaml").write_text(SPEC)
    env = {k: v for k, v in os.environ.items() if k != "NO_COLOR"}
    if no_color is not None:
        env["NO_COLOR"] = no_color
    primary, secondary = pty.openpty()
    proc = ForkedReconciler([*PREFIX, "plan", str(tmp_path / "spec.yaml"),
                             "--local", str(tmp_path / "store")], stdout=secondary, stderr=subprocess.PIPE,
                            stdin=subprocess.DEVNULL, env=env, cwd=ROOT)
    os.close(secondary)
    received = b""
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        ready, _, _ = select.select([primary], [], [], 1.0)
        if ready:
            try:
                chunk = os.read(primary, 65536)
            except OSError:  # EIO: the child closed the terminal
                break
            if not chunk:
                break
            received += chunk
        elif proc.poll() is not None:
            break
    os.close(primary)
    assert proc.wait(timeout=60) == 0, proc.stderr.read() if proc.stderr else ""
    return received.decode()


@pytest.mark.slow
def test_a_terminal_gets_colour_unless_no_color_is_set(tmp_path: Path) -> None:
    coloured = plan_on_a_terminal(tmp_path / "a", None)
    assert "\x1b[33m" in coloured and "StudyDescription" in coloured  # ~ change, yellow
    assert "\x1b[" in plan_on_a_terminal(tmp_path / "b", "")
    plain = plan_on_a_terminal(tmp_path / "c", "1")
    assert "StudyDescription" in plain and "\x1b[" not in plain
