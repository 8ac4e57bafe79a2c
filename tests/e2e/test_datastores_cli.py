"""Datastores through the CLI, over both transports (``--local`` in process and ``emulator serve`` over HTTP),
with the real boto3 client calling ListDatastores:

- ``reconciler ls`` without ``--datastore-id`` lists the datastores (text and JSON);
- a command that needs ``--datastore-id`` and lacks it names the datastore to pass when there is exactly one,
  and otherwise says how to find it; nothing else is read, and no traceback.
"""

from __future__ import annotations

import io
import json
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from reconciler.cli import main
from reconciler.commands._common import Streams
from reconciler.emulator.knobs import EmulatorConfig
from reconciler.emulator.store import Store
from tests.support.backends import cli_backend, isolate_aws

DS, OTHER = "d" * 32, "e" * 32
IMAGE_SET = "a" * 32
DOC = {"Patient": {"DICOM": {"PatientName": "QQSECRET^ZZNAME"}},
       "Study": {"DICOM": {"StudyInstanceUID": "1.2.3"},
                 "Series": {"1.1": {"DICOM": {"Modality": "CT"}, "Instances": {"2.1": {"DICOM": {}}}}}}}


@dataclass
class Env:
    store: Path
    backend: list[str]

    def cli(self, *argv: str) -> tuple[int, str, str]:
        out, err = io.StringIO(), io.StringIO()
        code = main([*argv, *self.backend], Streams(out=out, err=err, inp=None))
        return code, out.getvalue(), err.getvalue()


def make_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, kind: str, datastores: int) -> Iterator[Env]:
    isolate_aws(tmp_path, monkeypatch)
    monkeypatch.chdir(tmp_path)
    store = Store(tmp_path / "store")
    for datastore_id, name in [(DS, "radiology"), (OTHER, "research")][:datastores]:
        store.ensure_datastore(datastore_id, name)
    if datastores:
        store.put_image_set(DS, IMAGE_SET, DOC)
    with cli_backend(kind, tmp_path / "store", EmulatorConfig()) as backend:
        yield Env(tmp_path / "store", backend)


@pytest.fixture(params=["local", "http"])
def one(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, request: pytest.FixtureRequest) -> Iterator[Env]:
    """A store with one datastore, which holds one image set."""
    yield from make_env(tmp_path, monkeypatch, request.param, 1)


@pytest.fixture(params=["local", "http"])
def two(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, request: pytest.FixtureRequest) -> Iterator[Env]:
    yield from make_env(tmp_path, monkeypatch, request.param, 2)


def test_ls_without_a_datastore_lists_the_datastores(two: Env) -> None:
    code, out, err = two.cli("ls")
    assert code == 0, err
    lines = out.splitlines()
    assert lines[0] == "2 datastores"
    assert lines[2].split() == ["datastore", "ID", "name", "status", "created"]
    rows = {line.split()[0]: line.split()[1:3] for line in lines[3:5]}
    assert rows == {DS: ["radiology", "ACTIVE"], OTHER: ["research", "ACTIVE"]}
    assert "reconciler ls --datastore-id " in lines[-1]


def test_ls_without_a_datastore_as_json(two: Env) -> None:
    code, out, err = two.cli("ls", "--format", "json")
    assert code == 0, err
    doc = json.loads(out)
    assert doc["count"] == 2
    assert sorted((d["datastoreId"], d["datastoreName"], d["datastoreStatus"]) for d in doc["datastores"]) == [
        (DS, "radiology", "ACTIVE"), (OTHER, "research", "ACTIVE")]
    assert all(d["createdAt"].endswith("Z") and d["datastoreArn"].endswith(d["datastoreId"])
               for d in doc["datastores"])


def test_ls_with_a_datastore_still_lists_its_image_sets(one: Env) -> None:
    code, out, err = one.cli("ls", "--datastore-id", DS)
    assert code == 0, err
    assert out.startswith(f"Datastore {DS}: 1 image set") and IMAGE_SET in out


def test_ls_of_a_store_without_datastores_says_so(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    env = next(make_env(tmp_path, monkeypatch, "local", 0))
    code, out, err = env.cli("ls")
    assert (code, out) == (0, "No datastores (ListDatastores found none in this account and region).\n"), err


@pytest.mark.parametrize("select", [["--select", "DICOMPatientId=P1"], ["--counts"]])
def test_ls_options_of_one_datastore_need_it(one: Env, select: list[str]) -> None:
    code, out, err = one.cli("ls", *select)
    assert code == 1 and out == ""
    assert f"{select[0]} lists the image sets of one datastore: give --datastore-id" in err
    assert "Traceback" not in err


COMMANDS = [
    ["history", "--image-set-id", IMAGE_SET],
    ["revert", "--image-set-id", IMAGE_SET, "--to-version", "1", "--auto-approve"],
    ["import", "--image-set-id", IMAGE_SET],
    ["adt", "read", str(Path(__file__).resolve().parents[2] / "examples" / "adt" / "a40-merge.hl7"),
     "--specs", "adt-specs"],
]


@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: c[0])
def test_the_only_datastore_is_named_when_the_option_is_missing(one: Env, command: list[str]) -> None:
    code, out, err = one.cli(*command)
    assert code == 1 and out == ""
    assert f"reconciler {command[0]}: --datastore-id is required; pass --datastore-id {DS}, the only datastore" in err
    assert "Traceback" not in err and "QQSECRET" not in err
    assert len(Store(one.store).list_versions(DS, IMAGE_SET, now=time.time())) == 1  # revert sent nothing
    assert not Path("adt-specs").exists()  # adt read wrote nothing


@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: c[0])
def test_with_several_datastores_the_error_points_to_ls(two: Env, command: list[str]) -> None:
    code, out, err = two.cli(*command)
    assert code == 1 and out == ""
    assert "--datastore-id is required; there are 2 datastores" in err and "`reconciler ls` lists them" in err


def test_the_store_is_named_by_its_absolute_path(one: Env) -> None:
    if one.backend[0] != "--local":
        assert f"at {one.backend[1]}" in one.cli(*COMMANDS[0])[2]  # the endpoint URL
        return
    assert f"in the local store {one.store.resolve()}" in one.cli(*COMMANDS[0])[2]


def test_with_the_option_the_command_runs(one: Env) -> None:
    code, out, err = one.cli("history", "--datastore-id", DS, "--image-set-id", IMAGE_SET)
    assert code == 0, err
    assert out.startswith(f"Image set {IMAGE_SET} in datastore {DS}: 1 version")


def test_a_backend_that_cannot_list_gets_the_plain_message(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Real AWS without a region: nothing can be listed (nothing is sent), so the error is the usage one."""
    isolate_aws(tmp_path, monkeypatch, "AWS_REGION", "AWS_DEFAULT_REGION")
    out, err = io.StringIO(), io.StringIO()
    code = main(["history", "--image-set-id", IMAGE_SET], Streams(out=out, err=err, inp=None))
    assert code == 1 and out.getvalue() == ""
    assert err.getvalue() == ("error: reconciler history: --datastore-id is required "
                              "(`reconciler ls` lists the datastores)\n")
