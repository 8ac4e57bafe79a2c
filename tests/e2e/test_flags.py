"""Flags are never abbreviated: a flag that is not exactly one of the command's is a usage error (exit 2) with a
did-you-mean naming the closest flag of that command and its --help, and the option is never used: `plan --show`
shows no patient data, `apply --auto` applies nothing. A bare `reconciler` prints the command list (exit 0)."""

from __future__ import annotations

import argparse
import io
import os
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from reconciler.cli import build_parser, main
from reconciler.commands._common import Streams
from reconciler.emulator.store import Store
from tests.support import forked
from tests.support.spectext import one_value_spec

ROOT = Path(__file__).resolve().parents[2]
DS = "1234567890abcdef1234567890abcdef"
IS = "f" * 32
SECRET = "QQFLAGS^ZZPATIENT"
SPEC = one_value_spec(DS, IS, "Patient", "PatientName", "NEWQQ^NAME")


def parsers(parser: argparse.ArgumentParser) -> Iterator[argparse.ArgumentParser]:
    yield parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub in action.choices.values():
                yield from parsers(sub)


def run(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = main(list(argv), Streams(out=out, err=err, inp=None))
    return code, out.getvalue(), err.getvalue()


def test_no_parser_takes_a_prefix_for_a_flag() -> None:
    found = list(parsers(build_parser()))
    assert len(found) > 10 and all(p.allow_abbrev is False for p in found)


@pytest.mark.parametrize(("argv", "command", "meant"), [
    (["plan", "specs", "--locl", "store"], "reconciler plan", "--local"),
    (["plan", "specs", "--show"], "reconciler plan", "--show-phi"),
    (["apply", "specs", "--auto"], "reconciler apply", "--auto-approve"),
    (["drift", "specs", "--detailed-exitcode"], "reconciler drift", None),  # a flag of plan, not of drift
    (["show", "p.plan", "--fromat", "json"], "reconciler show", "--format"),
    (["emulator", "serve", "--locl", "store"], "reconciler emulator serve", "--local"),  # --local is required
    (["ls", "--datastore", DS], "reconciler ls", "--datastore-id"),
    (["--verison"], "reconciler", "--version"),
])
def test_an_inexact_flag_is_exit_2_with_the_closest_flag_of_that_command(argv: list[str], command: str,
                                                                          meant: str | None) -> None:
    code, out, err = run(*argv)
    typed = next(a for a in argv if a.startswith("--"))
    assert (code, out) == (2, "")
    assert err.startswith(f"error: {command}: unknown option {typed}")
    assert f"(see `{command} --help`)" in err and "Traceback" not in err
    if meant is not None:
        assert f"did you mean {meant}?" in err
    else:
        assert "did you mean" not in err


def test_an_exact_flag_with_its_value_after_an_equals_sign_is_accepted() -> None:
    code, _out, err = run("plan", "no-such-specs", "--format=json")
    assert code == 1 and "unknown option" not in err  # the specs are missing, the flag is fine


def test_a_bare_reconciler_prints_the_command_list_and_exits_0() -> None:
    code, out, err = run()
    assert (code, err) == (0, "")
    assert out.startswith("usage: reconciler")
    assert all(f"    {name} " in out for name in ("validate", "plan", "apply", "drift", "show", "emulator"))


@pytest.fixture
def cwd(tmp_path: Path) -> Path:
    (tmp_path / "specs").mkdir()
    (tmp_path / "specs" / "a.yaml").write_text(SPEC)
    store = Store(tmp_path / "store")
    store.ensure_datastore(DS, "local")
    store.put_image_set(DS, IS, {"Patient": {"DICOM": {"PatientName": SECRET}}, "Study": {"DICOM": {}}},
                        is_primary=False)
    return tmp_path


def cli(cwd: Path, *argv: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("RECONCILER_", "CI"))}
    return forked.run(forked.reconciler(*argv), cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=120, stdin=subprocess.DEVNULL)


def versions(cwd: Path) -> list[str]:
    return [str(v.version) for v in Store(cwd / "store").list_versions(DS, IS, now=time.time())]


@pytest.mark.slow
def test_plan_show_never_shows_patient_data(cwd: Path) -> None:
    shown = cli(cwd, "plan", "specs", "--local", "store", "--show-phi")  # the flag itself shows it
    assert shown.returncode == 0 and SECRET in shown.stdout
    typo = cli(cwd, "plan", "specs", "--local", "store", "--show")
    assert typo.returncode == 2 and "did you mean --show-phi?" in typo.stderr
    assert typo.stdout == "" and SECRET not in typo.stderr and "NEWQQ" not in typo.stderr


@pytest.mark.slow
def test_apply_auto_never_applies(cwd: Path) -> None:
    before = versions(cwd)
    typo = cli(cwd, "apply", "specs", "--local", "store", "--auto")
    assert typo.returncode == 2 and "did you mean --auto-approve?" in typo.stderr
    assert typo.stdout == "" and versions(cwd) == before and not (cwd / ".reconciler").exists()
    done = cli(cwd, "apply", "specs", "--local", "store", "--auto-approve")  # the flag itself applies
    assert done.returncode == 0, done.stderr
    assert len(versions(cwd)) == len(before) + 1


@pytest.mark.parametrize(("argv", "command", "meant"), [
    (["pln", "specs"], "reconciler", "plan"),
    (["emulator", "srve", "--local", "x"], "reconciler emulator", "serve"),
    (["adt", "red", "m.hl7"], "reconciler adt", "read"),
])
def test_a_mistyped_command_names_the_closest_one_and_runs_nothing(argv: list[str], command: str, meant: str) -> None:
    code, out, err = run(*argv)
    assert code == 1 and out == ""
    assert f"unknown command '{argv[1] if command != 'reconciler' else argv[0]}'" in err
    assert f"(did you mean {meant}?)" in err and f"see `{command} --help`" in err


def test_a_command_with_no_likeness_lists_the_commands() -> None:
    code, _, err = run("xyzzy")
    assert code == 1 and "did you mean" not in err and "plan" in err and "validate" in err
