"""`reconciler import` end to end on image sets made from pydicom's bundled DICOM files: the spec it
writes validates and plans to nothing at every level choice; files are 0600; generated keys stay out."""

from __future__ import annotations

import io
import stat
import time
from pathlib import Path

import pytest

from reconciler.cli import main
from reconciler.commands._common import Streams
from reconciler.demo import pydicom_test_files
from reconciler.emulator.dicom_import import import_dicom
from reconciler.emulator.store import Store
from reconciler.spec.loader import load_text

DS = "demo0000000000000000000000000000"
LEVEL_CHOICES = ["patient", "study", "series", "instance", "patient,study", "series,instance",
                 "patient,study,series,instance"]


def run(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = main(list(argv), Streams(out=out, err=err, inp=None))
    return code, out.getvalue(), err.getvalue()


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, list[str]]:
    """A local store seeded with every DICOM study pydicom ships (29 image sets), and their IDs."""
    directory = tmp_path_factory.mktemp("import") / "store"
    s = Store(directory)
    import_dicom(s, DS, [pydicom_test_files()], warn=lambda _msg: None)
    ids = sorted(row.image_set_id for row, _doc in s.latest_documents(DS, now=time.time()))
    return str(directory), ids


@pytest.mark.slow
@pytest.mark.parametrize("levels", LEVEL_CHOICES)
def test_import_round_trip_validates_and_plans_empty(
    store: tuple[str, list[str]], tmp_path: Path, levels: str
) -> None:
    local, ids = store
    if levels != "patient,study,series,instance":  # every file at full depth; a sample for the others
        ids = ids[::5]
    out_dir = tmp_path / "specs"
    for image_set_id in ids:
        code, _, err = run("import", "--local", local, "--datastore-id", DS, "--image-set-id", image_set_id,
                           "--levels", levels, "--out", str(out_dir))
        assert code == 0, err
    assert len(list(out_dir.glob("*.yaml"))) == len(ids)
    assert run("validate", str(out_dir))[0] == 0
    code, out, err = run("plan", str(out_dir), "--local", local, "--detailed-exitcode")
    assert code == 0, out + err
    assert f"0 to update, {len(ids)} unchanged, 0 with errors" in out


def test_import_select_writes_one_file_per_image_set_mode_0600(
    store: tuple[str, list[str]], tmp_path: Path
) -> None:
    local, _ids = store
    out_dir = tmp_path / "mr"
    code, out, err = run("import", "--local", local, "--datastore-id", DS, "--out", str(out_dir),
                         "--select", "DICOMStudyInstanceUID=1.3.6.1.4.1.5962.1.1.0.0.0.1196533885.18148.0.427")
    assert code == 0 and out == ""
    files = list(out_dir.glob("*.yaml"))
    assert len(files) == 1 and "mode 0600" in err and "patient data" in err
    assert stat.S_IMODE(files[0].stat().st_mode) == 0o600


def test_import_to_stdout_has_schema_line_provenance_and_no_generated_keys(store: tuple[str, list[str]]) -> None:
    local, ids = store
    code, out, err = run("import", "--local", local, "--datastore-id", DS, "--image-set-id", ids[0])
    assert code == 0 and "patient data" in err
    lines = out.splitlines()
    assert lines[0].startswith("# yaml-language-server: $schema=")
    assert f"from image set {ids[0]} (datastore {DS}), version 1, at " in lines[1]
    for generated in ("ImageFrames", "StoredTransferSyntaxUID", "Checksum", "FrameSizeInBytes", "SchemaVersion"):
        assert generated not in out
    docs, problems = load_text(out, "<stdout>")
    assert not problems and docs[0].value["target"] == {"datastoreId": DS, "imageSetId": ids[0]}


def test_import_never_overwrites_an_existing_spec(store: tuple[str, list[str]], tmp_path: Path) -> None:
    local, ids = store
    args = ("import", "--local", local, "--datastore-id", DS, "--image-set-id", ids[0], "--out", str(tmp_path))
    assert run(*args)[0] == 0
    code, _, err = run(*args)
    assert code == 1 and "already exists" in err


@pytest.mark.parametrize(("extra", "message"), [
    (("--select", "DICOMPatientId=P1"), "needs --out"),
    (("--image-set-id", "x" * 32, "--levels", "patient,organ"), "unknown: organ"),
    (("--select", "DICOMPatientId", "--out", "d"), "expected KEY=VALUE"),
])
def test_import_usage_errors(store: tuple[str, list[str]], extra: tuple[str, ...], message: str) -> None:
    code, _, err = run("import", "--local", store[0], "--datastore-id", DS, *extra)
    assert code == 1 and message in err


def test_import_of_a_missing_image_set_is_an_error_naming_it(store: tuple[str, list[str]]) -> None:
    code, _, err = run("import", "--local", store[0], "--datastore-id", DS, "--image-set-id", "0" * 32)
    assert code == 1 and "0" * 32 in err


def test_the_schema_line_is_never_an_absolute_path_of_this_machine(
    store: tuple[str, list[str]], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """On stdout the spec reference's layout (specs/ beside schemas/); in --out DIR the path from DIR to the
    working folder's schemas/spec.schema.json when there is one, else the same layout."""
    local, ids = store
    project = tmp_path / "project"
    project.mkdir()
    monkeypatch.chdir(project)
    args = ("import", "--local", local, "--datastore-id", DS, "--image-set-id", ids[0])

    def schema_line(text: str) -> str:
        first = text.splitlines()[0]
        assert first.startswith("# yaml-language-server: $schema=")
        return first.split("=", 1)[1]

    assert schema_line(run(*args)[1]) == "../schemas/spec.schema.json"  # no schemas/ here
    assert run(*args, "--out", "specs/a")[0] == 0
    assert schema_line((project / f"specs/a/{ids[0]}.yaml").read_text()) == "../schemas/spec.schema.json"
    (project / "schemas").mkdir()
    (project / "schemas" / "spec.schema.json").write_text("{}")
    assert schema_line(run(*args)[1]) == "../schemas/spec.schema.json"  # stdout: where it goes is unknown
    assert run(*args, "--out", "specs/deep/er")[0] == 0
    written = (project / f"specs/deep/er/{ids[0]}.yaml").read_text()
    assert schema_line(written) == "../../../schemas/spec.schema.json"
    assert (project / "specs/deep/er" / schema_line(written)).resolve() == (project / "schemas/spec.schema.json")
