"""`reconciler history` and `reconciler revert` through the CLI against the emulator (past 50 versions)."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
from applyenv import CLI_RATES, client, document, http_emulator, seed

from reconciler.cli import main
from reconciler.commands._common import Streams
from reconciler.emulator.knobs import EmulatorConfig

VERSIONS = 55  # ListImageSetVersions pages hold at most 50


@pytest.fixture(autouse=True)
def _aws_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "test")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "test")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.delenv("RECONCILER_LOCAL", raising=False)
    monkeypatch.chdir(tmp_path)


def cli(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = main(list(argv), Streams(out=out, err=err, inp=io.StringIO("")))
    return code, out.getvalue(), err.getvalue()


@pytest.fixture(scope="module")
def long_history(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str, str]:
    """One image set with VERSIONS versions: version n has PatientID "V<n>"."""
    store = tmp_path_factory.mktemp("history") / "store"
    ds, (image_set_id,) = seed(store, 1)
    api = client(store)
    for n in range(2, VERSIONS + 1):
        patch = json.dumps({"SchemaVersion": "1.1", "Patient": {"DICOM": {"PatientID": f"V{n}"}}}).encode()
        api.update_image_set_metadata(ds, image_set_id, str(n - 1), updatable=patch)
    return store, ds, image_set_id


def test_history_json_lists_every_version_newest_first(long_history: tuple[Path, str, str]) -> None:
    store, ds, image_set_id = long_history
    code, out, err = cli("history", "--datastore-id", ds, "--image-set-id", image_set_id, "--local", str(store),
                         "--format", "json", *CLI_RATES)
    assert code == 0, err
    doc = json.loads(out)
    assert doc["count"] == VERSIONS
    assert [v["versionId"] for v in doc["versions"]] == [str(n) for n in range(VERSIONS, 0, -1)]
    newest = doc["versions"][0]
    assert (newest["state"], newest["workflowStatus"], newest["forced"]) == ("ACTIVE", "UPDATED", False)
    assert newest["updatedAt"].endswith("Z")


def test_history_text_over_http(long_history: tuple[Path, str, str]) -> None:
    store, ds, image_set_id = long_history
    with http_emulator(store, EmulatorConfig()) as (url, log):
        code, out, _err = cli("history", "--datastore-id", ds, "--image-set-id", image_set_id,
                              "--endpoint-url", url, *CLI_RATES)
        pages = log.getvalue().count("listImageSetVersions")
    assert code == 0
    lines = out.splitlines()
    assert lines[0].endswith(f"{VERSIONS} versions, newest first")
    assert [line.split()[0] for line in lines[2:]] == [str(n) for n in range(VERSIONS, 0, -1)]
    assert pages >= 2


def test_revert_past_a_page_of_versions_is_verified(tmp_path: Path, long_history: tuple[Path, str, str]) -> None:
    store, ds, image_set_id = long_history
    code, out, err = cli("revert", "--datastore-id", ds, "--image-set-id", image_set_id, "--to-version", "3",
                         "--auto-approve", "--local", str(store), *CLI_RATES)
    assert code == 0, err
    assert f"new version {VERSIONS + 1} (verified" in out
    api = client(store)
    assert api.get_image_set_metadata(ds, image_set_id) == api.get_image_set_metadata(ds, image_set_id, version="3")
    assert api.get_image_set_metadata(ds, image_set_id)["Patient"]["DICOM"]["PatientID"] == "V3"


def test_revert_without_a_terminal_is_refused_with_nothing_written(tmp_path: Path) -> None:
    store = tmp_path / "store"
    ds, (image_set_id,) = seed(store, 1)
    with http_emulator(store, EmulatorConfig()) as (url, log):
        code, out, err = cli("revert", "--datastore-id", ds, "--image-set-id", image_set_id, "--to-version", "1",
                             "--endpoint-url", url)
        assert "updateImageSetMetadata" not in log.getvalue()  # read to preview, nothing written
    assert code == 1 and "--auto-approve" in err
    assert "No changes: version 1 has the same content as version 1 (the current one)." in out


@pytest.mark.parametrize(
    ("to_version", "code", "text"),
    [("9", 1, "error:"), ("1", 0, "new version 2 (verified")],
    ids=["missing-version", "same-content"],
)
def test_revert_edges(tmp_path: Path, to_version: str, code: int, text: str) -> None:
    store = tmp_path / "store"
    ds, (image_set_id,) = seed(store, 1)
    got, out, err = cli("revert", "--datastore-id", ds, "--image-set-id", image_set_id, "--to-version", to_version,
                        "--auto-approve", "--local", str(store), *CLI_RATES)
    assert got == code and text in out + err and "Traceback" not in err
    assert client(store).get_image_set_metadata(ds, image_set_id)["Patient"] == document(1)["Patient"]


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


@pytest.mark.parametrize(("typed", "code", "version"), [("yes\n", 0, "2"), ("no\n", 1, "1")])
def test_revert_on_a_terminal_asks_first(tmp_path: Path, typed: str, code: int, version: str) -> None:
    store = tmp_path / "store"
    ds, (image_set_id,) = seed(store, 1)
    out, err = io.StringIO(), io.StringIO()
    got = main(["revert", "--datastore-id", ds, "--image-set-id", image_set_id, "--to-version", "1",
                "--local", str(store), *CLI_RATES], Streams(out=out, err=err, inp=Terminal(typed)))
    assert got == code
    assert "Only 'yes' will be accepted" in out.getvalue()
    assert client(store).get_image_set(ds, image_set_id).version_id == version


def test_history_of_a_missing_image_set_is_an_error_naming_it(tmp_path: Path) -> None:
    store = tmp_path / "store"
    ds, _ids = seed(store, 1)
    code, _out, err = cli("history", "--datastore-id", ds, "--image-set-id", "f" * 32, "--local", str(store))
    assert code == 1 and "f" * 32 in err and "Traceback" not in err
