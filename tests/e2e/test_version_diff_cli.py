"""The revert preview and `history --diff` on a 5,000-instance image set, through the CLI against the
in-process emulator: the exact change lines, redacted unless --show-phi."""

from __future__ import annotations

import io
import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from benchmarks.bench_plan import instance
from reconciler.cli import main
from reconciler.commands._common import Streams
from reconciler.emulator.store import Store
from reconciler.render.redact import ENV_KEY, Redactor
from tests.support.applyenv import CLI_RATES, client

KEY = "diff-test-key-of-at-least-32-characters"
S1, S2 = "1.2.826.0.1.3680043.8.498.1", "1.2.826.0.1.3680043.8.498.2"
I10, I4000, ILAST = f"{S1}.10", f"{S1}.4000", f"{S1}.4989"
IMAGE_SET = "1" * 32


def token(value: Any) -> str:
    return Redactor(key=KEY.encode()).token(value)


def uid(value: str) -> str:
    """A series or instance UID as a path shows it without --show-phi (PS3.15 Annex E: action U)."""
    return Redactor(key=KEY.encode()).uid(value)


def document() -> dict[str, Any]:
    """5,000 instances: 4,990 in series S1 (padded values, as P10 files have them), 10 in series S2."""
    return {
        "Patient": {"DICOM": {"PatientName": "FIRST^PATIENT", "PatientID": "P1", "PatientSex": "O"}},
        "Study": {"DICOM": {"StudyInstanceUID": "1.2.826.0.1.1", "StudyDescription": "CT CHEST "},
                  "Series": {S1: {"DICOM": {"Modality": "CT", "SeriesNumber": "1 "},
                                  "Instances": {f"{S1}.{n}": instance(n, 1) for n in range(4990)}},
                             S2: {"DICOM": {"Modality": "CT", "SeriesNumber": "2 "},
                                  "Instances": {f"{S2}.{n}": instance(n, 2) for n in range(10)}}}},
    }


def blob(tree: dict[str, Any]) -> bytes:
    return json.dumps({"SchemaVersion": "1.1", **tree}).encode()


@pytest.fixture(autouse=True)
def _env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "test")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "test")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv(ENV_KEY, KEY)  # fingerprints the test can compute
    monkeypatch.delenv("RECONCILER_LOCAL", raising=False)
    monkeypatch.chdir(tmp_path)


@pytest.fixture(scope="module")
def three_versions(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """Version 2 renames the patient, drops the padding of StudyDescription (no change under DICOM
    equality), changes one KVP, removes one instance's ImageComments and the whole series S2; version 3
    removes an instance."""
    store_dir = tmp_path_factory.mktemp("diff") / "store"
    store = Store(store_dir)
    ds = store.create_datastore("diff-tests")
    store.put_image_set(ds, IMAGE_SET, document(), is_primary=False)  # revert restores Patient-level values
    api = client(store_dir)
    comments = instance(4000, 1)["DICOM"]["ImageComments"]
    api.update_image_set_metadata(
        ds, IMAGE_SET, "1",
        updatable=blob({"Patient": {"DICOM": {"PatientName": "OTHER^PATIENT"}},
                        "Study": {"DICOM": {"StudyDescription": "CT CHEST"},
                                  "Series": {S1: {"Instances": {I10: {"DICOM": {"KVP": "100"}}}}}}}),
        removable=blob({"Study": {"Series": {S2: {}, S1: {"Instances": {I4000: {"DICOM": {
            "ImageComments": comments}}}}}}}),
    )
    api.update_image_set_metadata(ds, IMAGE_SET, "2",
                                  removable=blob({"Study": {"Series": {S1: {"Instances": {ILAST: {}}}}}}))
    return store_dir, ds


def cli(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = main(list(argv), Streams(out=out, err=err, inp=io.StringIO("")))
    return code, out.getvalue(), err.getvalue()


def version2_lines() -> list[str]:
    comments = token(instance(4000, 1)["DICOM"]["ImageComments"])  # Image Comments: PS3.15 Annex E, X
    return [
        "    changes from version 1: 0 to add, 2 to change, 2 to remove",
        f'    ~ Patient.DICOM.PatientName: "{token("FIRST^PATIENT")}" -> "{token("OTHER^PATIENT")}"',
        f'    ~ Study.Series[{uid(S1)}].Instances[{uid(I10)}].DICOM.KVP: "120 " -> "100"',
        f"    - Study.Series[{uid(S1)}].Instances[{uid(I4000)}].DICOM.ImageComments: \"{comments}\"",
        f"    - Study.Series[{uid(S2)}] (series)",
    ]


def revert_lines() -> list[str]:
    comments = token(instance(4000, 1)["DICOM"]["ImageComments"])
    return [
        "Changes from version 3 (the current one) to the new version: 3 to add, 2 to change, 0 to remove",
        f'    ~ Patient.DICOM.PatientName: "{token("OTHER^PATIENT")}" -> "{token("FIRST^PATIENT")}"',
        f'    ~ Study.Series[{uid(S1)}].Instances[{uid(I10)}].DICOM.KVP: "100" -> "120 "',
        f"    + Study.Series[{uid(S1)}].Instances[{uid(I4000)}].DICOM.ImageComments: \"{comments}\"",
        f"    + Study.Series[{uid(S1)}].Instances[{uid(ILAST)}] (instance)",
        f"    + Study.Series[{uid(S2)}] (series)",
    ]


def block_after(lines: list[str], row_start: str) -> list[str]:
    """The indented lines under the history row of one version."""
    at = next(i for i, line in enumerate(lines) if line.startswith(row_start))
    block = []
    for line in lines[at + 1:]:
        if not line.startswith("    "):
            break
        block.append(line)
    return block


def test_history_diff_text_lists_each_versions_changes_redacted(three_versions: tuple[Path, str]) -> None:
    store, ds = three_versions
    code, out, err = cli("history", "--datastore-id", ds, "--image-set-id", IMAGE_SET, "--local", str(store),
                         "--diff", *CLI_RATES)
    assert code == 0, err
    lines = out.splitlines()
    assert lines[0].endswith("3 versions, newest first")
    assert block_after(lines, "3 ") == ["    changes from version 2: 0 to add, 0 to change, 1 to remove",
                                        f"    - Study.Series[{uid(S1)}].Instances[{uid(ILAST)}] (instance)"]
    assert block_after(lines, "2 ") == version2_lines()
    assert block_after(lines, "1 ") == []  # nothing before the first version
    assert "PATIENT" not in out  # names only as fingerprints
    assert S1 not in out and S2 not in out  # and UIDs too


def test_history_diff_json_with_and_without_phi(three_versions: tuple[Path, str]) -> None:
    store, ds = three_versions
    base = ("history", "--datastore-id", ds, "--image-set-id", IMAGE_SET, "--local", str(store), "--diff",
            "--format", "json", *CLI_RATES)
    code, out, err = cli(*base)
    assert code == 0, err
    rows = {v["versionId"]: v for v in json.loads(out)["versions"]}
    assert rows["1"]["diff"] is None
    diff = rows["2"]["diff"]
    assert (diff["comparedWith"], diff["summary"]) == ("1", {"add": 0, "change": 2, "remove": 2})
    name = diff["changes"][0]
    assert (name["op"], name["path"], name["before"], name["after"]) == (
        "change", ["Patient", "DICOM", "PatientName"], token("FIRST^PATIENT"), token("OTHER^PATIENT"))
    assert [c["path"][-1] for c in diff["changes"]] == ["PatientName", "KVP", "ImageComments", uid(S2)]
    assert rows["3"]["diff"]["changes"] == [{"op": "remove",
                                             "path": ["Study", "Series", uid(S1), "Instances", uid(ILAST)],
                                             "before": None, "after": None, "check": "ok"}]
    code, out, err = cli(*base, "--show-phi")
    assert code == 0, err
    name = json.loads(out)["versions"][1]["diff"]["changes"][0]
    assert (name["before"], name["after"]) == ("FIRST^PATIENT", "OTHER^PATIENT")


def test_revert_without_a_terminal_prints_the_preview_then_refuses(three_versions: tuple[Path, str]) -> None:
    store, ds = three_versions
    code, out, err = cli("revert", "--datastore-id", ds, "--image-set-id", IMAGE_SET, "--to-version", "1",
                         "--local", str(store), *CLI_RATES)
    assert code == 1 and "needs confirmation" in err and "--auto-approve" in err
    lines = out.splitlines()
    assert lines[0].startswith(f"Image set {IMAGE_SET} is at version 3; reverting to version 1")
    assert lines[1:] == revert_lines()
    assert "PATIENT" not in out
    assert client(store).get_image_set(ds, IMAGE_SET).version_id == "3"  # nothing written


def test_revert_shows_phi_only_when_asked(three_versions: tuple[Path, str]) -> None:
    store, ds = three_versions
    code, out, _err = cli("revert", "--datastore-id", ds, "--image-set-id", IMAGE_SET, "--to-version", "2",
                          "--local", str(store), "--show-phi", *CLI_RATES)
    assert code == 1
    assert out.splitlines()[1:] == ["Changes from version 3 (the current one) to the new version: "
                                    "1 to add, 0 to change, 0 to remove",
                                    f"    + Study.Series[{S1}].Instances[{ILAST}] (instance)"]
    code, out, _err = cli("revert", "--datastore-id", ds, "--image-set-id", IMAGE_SET, "--to-version", "1",
                          "--local", str(store), "--show-phi", *CLI_RATES)
    assert '~ Patient.DICOM.PatientName: "OTHER^PATIENT" -> "FIRST^PATIENT"' in out


@pytest.mark.slow
def test_revert_applies_what_it_previewed(tmp_path: Path, three_versions: tuple[Path, str]) -> None:
    """After the revert, `history --diff` shows the new version changed exactly what the preview said."""
    store = tmp_path / "store"
    shutil.copytree(three_versions[0], store)
    ds = three_versions[1]
    code, out, err = cli("revert", "--datastore-id", ds, "--image-set-id", IMAGE_SET, "--to-version", "1",
                         "--auto-approve", "--local", str(store), *CLI_RATES)
    assert code == 0, err
    assert out.splitlines()[1:-1] == revert_lines()
    assert "new version 4 (verified" in out.splitlines()[-1]
    code, out, err = cli("history", "--datastore-id", ds, "--image-set-id", IMAGE_SET, "--local", str(store),
                         "--diff", *CLI_RATES)
    assert code == 0, err
    preview = revert_lines()
    assert block_after(out.splitlines(), "4 ") == [
        preview[0].replace("Changes from version 3 (the current one) to the new version",
                           "    changes from version 3"), *preview[1:]]
