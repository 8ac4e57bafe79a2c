"""`reconciler apply PATH...`: plan, show, confirm on a terminal, apply, and a second run has nothing to do."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

from reconciler.cli import main
from reconciler.commands._common import Streams
from tests.support.applyenv import CLI_RATES, client, seed, write_specs


class Terminal(io.StringIO):
    """Standard input that says it is a terminal, with the user's typed answer in it."""

    def isatty(self) -> bool:
        return True


@pytest.fixture
def specs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, str, list[str]]:
    monkeypatch.delenv("RECONCILER_LOCAL", raising=False)
    monkeypatch.chdir(tmp_path)
    store = tmp_path / "store"
    ds, ids = seed(store, 3)
    write_specs(tmp_path / "specs", ds, ids)
    return store, ds, ids


def cli(*argv: str, typed: str | None = None) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    inp = Terminal(typed) if typed is not None else io.StringIO("")
    code = main(list(argv), Streams(out=out, err=err, inp=inp))
    return code, out.getvalue(), err.getvalue()


def names(store: Path, ds: str, ids: list[str]) -> list[str]:
    api = client(store)
    return [api.get_image_set_metadata(ds, i)["Patient"]["DICOM"]["PatientName"] for i in ids]


def test_auto_approve_applies_and_a_second_run_has_no_changes(specs: tuple[Path, str, list[str]]) -> None:
    store, ds, ids = specs
    args = ("apply", "specs", "--local", str(store), "--auto-approve", "--journal", "j.jsonl", *CLI_RATES)
    code, out, err = cli(*args)
    assert code == 0, err
    assert "will perform the following updates" in out and "3 converged" in out
    assert "NEW^" not in out  # PatientName is patient data: the shown plan redacts it
    assert names(store, ds, ids) == ["NEW^1", "NEW^2", "NEW^3"]
    code, out, _err = cli(*args)
    assert code == 0 and "No changes" in out
    code, out, _err = cli("plan", "specs", "--local", str(store), "--detailed-exitcode", *CLI_RATES)
    assert code == 0


@pytest.mark.parametrize(("typed", "code", "applied"), [("yes\n", 0, True), ("no\n", 1, False), ("y\n", 1, False)])
def test_on_a_terminal_only_yes_applies(
    specs: tuple[Path, str, list[str]], typed: str, code: int, applied: bool
) -> None:
    store, ds, ids = specs
    got, out, err = cli("apply", "specs", "--local", str(store), "--journal", "j.jsonl", *CLI_RATES, typed=typed)
    assert got == code, err
    assert "Do you want to perform these actions? Only 'yes' will be accepted." in out
    assert (names(store, ds, ids) == ["NEW^1", "NEW^2", "NEW^3"]) is applied
    if not applied:
        assert "Apply cancelled." in err and not Path("j.jsonl").exists()


def test_json_format_is_one_json_document(specs: tuple[Path, str, list[str]]) -> None:
    store, _ds, _ids = specs
    code, out, _err = cli("apply", "specs", "--local", str(store), "--auto-approve", "--format", "json",
                          "--journal", "j.jsonl", *CLI_RATES)
    assert code == 0
    assert json.loads(out)["summary"]["converged"] == 3


def test_invalid_specs_are_reported_and_nothing_is_applied(specs: tuple[Path, str, list[str]]) -> None:
    store, ds, ids = specs
    Path("specs/s001.yaml").write_text("apiVersion: reconciler/v1\nkind: Nope\n")
    code, _out, err = cli("apply", "specs", "--local", str(store), "--auto-approve", *CLI_RATES)
    assert code == 1 and "s001.yaml" in err and "Traceback" not in err
    assert names(store, ds, ids) == ["PATIENT^1", "PATIENT^2", "PATIENT^3"]


def test_json_on_a_terminal_keeps_plan_and_prompt_off_stdout(specs: tuple[Path, str, list[str]]) -> None:
    store, _ds, _ids = specs
    code, out, err = cli("apply", "specs", "--local", str(store), "--format", "json", "--journal", "j.jsonl",
                         *CLI_RATES, typed="yes\n")
    assert code == 0
    assert json.loads(out)["summary"]["converged"] == 3
    assert "will perform the following updates" in err and "Only 'yes' will be accepted" in err
