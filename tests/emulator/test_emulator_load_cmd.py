"""`reconciler emulator load`: success prints the IDs; bad input is one clear line, exit 1, store unchanged."""

from __future__ import annotations

import io
import json
from collections.abc import Callable
from pathlib import Path

import pytest
from emuhelpers import DATA, DS, IS

from reconciler.cli import main
from reconciler.commands._common import Streams
from reconciler.emulator.store import Store


def _run(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = main(["emulator", "load", *argv], Streams(out=out, err=err, inp=None))
    return code, out.getvalue(), err.getvalue()


def _snapshot(store_dir: Path) -> list[tuple[str, int]]:
    store = Store(store_dir)
    return [(d.datastore_id, len(store.list_versions(d.datastore_id, IS, now=0))) for d in store.list_datastores()]


def test_load_creates_datastore_and_version_1(tmp_path: Path) -> None:
    store_dir = tmp_path / "s"
    code, out, err = _run("--local", str(store_dir), "--datastore-id", DS, "--image-set-id", IS,
                          str(DATA / "grand_challenge.json"))
    assert (code, err) == (0, "")
    assert json.loads(out) == {"datastoreId": DS, "imageSetId": IS, "versionId": "1", "isPrimary": True}
    document = Store(store_dir).get_document(DS, IS)
    assert (document["ImageSetID"], document["Patient"]["DICOM"]["PatientID"]) == (IS, "NOID")
    assert Store(store_dir).get_version(DS, IS, now=0).is_primary is True


def test_load_non_primary(tmp_path: Path) -> None:
    store_dir = tmp_path / "s"
    code, out, err = _run("--local", str(store_dir), "--datastore-id", DS, "--image-set-id", IS, "--non-primary",
                          str(DATA / "grand_challenge.json"))
    assert (code, err) == (0, "")
    assert json.loads(out)["isPrimary"] is False
    assert Store(store_dir).get_version(DS, IS, now=0).is_primary is False


def _bad_json(tmp: Path) -> str:
    path = tmp / "bad.json"
    path.write_text('{"Patient": {"DICOM": {"PatientName": "SECRET^NAME",}}}')
    return str(path)


def _not_object(tmp: Path) -> str:
    path = tmp / "list.json"
    path.write_text('["SECRET^NAME"]')
    return str(path)


@pytest.mark.parametrize(("ids", "make_file", "needle"), [
    ((DS, IS), lambda tmp: str(tmp / "missing.json"), "missing.json: cannot read"),
    ((DS, IS), _bad_json, "bad.json:1:"),
    ((DS, IS), _not_object, "must be a JSON object"),
    (("NOT-A-DATASTORE", IS), lambda tmp: str(DATA / "grand_challenge.json"), "--datastore-id"),
    ((DS, IS.upper()), lambda tmp: str(DATA / "grand_challenge.json"), "--image-set-id"),
])
def test_bad_input_is_a_clear_error_and_leaves_the_store_unchanged(
    tmp_path: Path, ids: tuple[str, str], make_file: Callable[[Path], str], needle: str
) -> None:
    store_dir = tmp_path / "s"
    assert _run("--local", str(store_dir), "--datastore-id", DS, "--image-set-id", IS,
                str(DATA / "seed_examples.json"))[0] == 0
    before = _snapshot(store_dir)
    path = make_file(tmp_path)
    code, out, err = _run("--local", str(store_dir), "--datastore-id", ids[0], "--image-set-id", ids[1], path)
    assert (code, out) == (1, "")
    assert needle in err and err.startswith("error: ") and err.count("\n") == 1
    assert "Traceback" not in err and "SECRET" not in err
    assert _snapshot(store_dir) == before


def test_loading_an_existing_image_set_is_refused(tmp_path: Path) -> None:
    args = ("--local", str(tmp_path / "s"), "--datastore-id", DS, "--image-set-id", IS,
            str(DATA / "seed_examples.json"))
    assert _run(*args)[0] == 0
    code, _, err = _run(*args)
    assert code == 1 and IS in err and "already exists" in err


def test_bad_id_does_not_create_the_store(tmp_path: Path) -> None:
    store_dir = tmp_path / "never"
    code, _, _ = _run("--local", str(store_dir), "--datastore-id", "x", "--image-set-id", IS,
                      str(DATA / "seed_examples.json"))
    assert code == 1 and not store_dir.exists()
