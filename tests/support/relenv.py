"""Shared set-up of the reliability tests: a seeded store, `emulator serve` and the CLI as subprocesses.

Everything runs against the real emulator on 127.0.0.1 with the real boto3 client (through the CLI);
nothing reaches the network beyond the loopback address. Subprocess calls always carry a ``timeout=``,
so a hang fails the test instead of stalling the run.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import signal
import subprocess
import time
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from reconciler.cli import main
from reconciler.commands._common import Streams
from reconciler.emulator.store import Store
from tests.support import forked
from tests.support.forked import ForkedReconciler

FAST_RATES = {"UpdateImageSetMetadata": 500.0, "GetImageSet": 1000.0, "GetImageSetMetadata": 1000.0,
              "ListImageSetVersions": 1000.0, "SearchImageSets": 1000.0}
CLI_RATES = [f"--rate={op}={tps:g}" for op, tps in FAST_RATES.items()]
DS = "0123456789abcdef0123456789abcdef"
SERVE_START_TIMEOUT = 60.0


def image_set_id(n: int) -> str:
    return f"{n:032x}"


def document(n: int, name: str | None = None) -> dict[str, Any]:
    """A small image set: one series, one instance; PatientName NAME (default PATIENT^n)."""
    uid = f"1.2.840.{n}"
    return {
        "SchemaVersion": "1.1",
        "Patient": {"DICOM": {"PatientName": name or f"PATIENT^{n}", "PatientID": f"P{n}", "PatientSex": "F"}},
        "Study": {"DICOM": {"StudyDescription": "CHEST", "StudyInstanceUID": f"{uid}.0", "AccessionNumber": f"A{n}"},
                  "Series": {uid: {"DICOM": {"Modality": "CT", "SeriesNumber": 1},
                                   "Instances": {f"{uid}.1": {"DICOM": {"InstanceNumber": 1}}}}}},
    }


def seed(store_dir: Path, count: int, name: str | None = None) -> list[str]:
    """Datastore DS with COUNT image sets at version 1; returns their IDs."""
    store = Store(store_dir)
    store.ensure_datastore(DS, "reliability")
    ids = [image_set_id(n) for n in range(1, count + 1)]
    for n, i in enumerate(ids, start=1):
        store.put_image_set(DS, i, document(n, name), is_primary=False)  # Patient-level changes
    return ids


def intent(tag: str, n: int) -> dict[str, str]:
    """The attributes spec TAG manages on image set N: all change together or not at all."""
    return {"PatientName": f"{tag}^{n}", "PatientComments": f"{tag} COMMENT {n}",
            "StudyDescription": f"{tag} STUDY {n}", "SeriesDescription": f"{tag} SERIES"}


SPEC = """apiVersion: reconciler/v1
kind: ImageSetMetadata
target:
  datastoreId: {ds}
  imageSetId: {image_set_id}
desired:
  Patient:
    DICOM:
      PatientName: "{PatientName}"
      PatientComments: "{PatientComments}"
  Study:
    DICOM:
      StudyDescription: "{StudyDescription}"
    Series:
      "1.2.840.{n}":
        DICOM:
          SeriesDescription: "{SeriesDescription}"
"""


def write_specs(folder: Path, tag: str, ids: list[str]) -> Path:
    """One spec file per image set, each setting ``intent(tag, n)``."""
    folder.mkdir(parents=True, exist_ok=True)
    for old in folder.glob("*.yaml"):
        old.unlink()
    for n, i in enumerate(ids, start=1):
        (folder / f"s{n:04d}.yaml").write_text(SPEC.format(ds=DS, image_set_id=i, n=n, **intent(tag, n)))
    return folder


def satisfies(doc: Mapping[str, Any], tag: str, n: int) -> bool:
    """Whether DOC holds the whole of spec TAG's intent for image set N."""
    want = intent(tag, n)
    series = doc["Study"]["Series"][f"1.2.840.{n}"]["DICOM"]
    got = {"PatientName": doc["Patient"]["DICOM"].get("PatientName"),
           "PatientComments": doc["Patient"]["DICOM"].get("PatientComments"),
           "StudyDescription": doc["Study"]["DICOM"].get("StudyDescription"),
           "SeriesDescription": series.get("SeriesDescription")}
    return got == want


def history(store_dir: Path, image_set: str) -> list[dict[str, Any]]:
    """Every version's document of IMAGE_SET, oldest first (version 1 at index 0)."""
    store = Store(store_dir)
    rows = store.list_versions(DS, image_set, now=time.time())
    docs = [store.get_document(DS, image_set, r.version) for r in sorted(rows, key=lambda r: r.version)]
    return docs


def cli_env(tmp_path: Path, secret: str = "test", key: str = "test") -> dict[str, str]:
    """The environment of a CLI subprocess: no AWS config of the machine, these credentials."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "RECONCILER_"))}
    env.update(AWS_ACCESS_KEY_ID=key, AWS_SECRET_ACCESS_KEY=secret, AWS_CONFIG_FILE=str(tmp_path / "none"),
               AWS_SHARED_CREDENTIALS_FILE=str(tmp_path / "none"), PYTHONUNBUFFERED="1")
    return env


def reconciler(*argv: str) -> list[str]:
    return forked.reconciler(*argv)


def run(tmp_path: Path, *argv: str, timeout: float = 120.0, secret: str = "test", key: str = "test",
        stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    """Run the CLI in a subprocess (killed and failed after TIMEOUT seconds)."""
    return forked.run(reconciler(*argv), env=cli_env(tmp_path, secret, key), cwd=tmp_path, capture_output=True,
                          text=True, timeout=timeout, input=stdin if stdin is not None else "")


def run_inprocess(*argv: str) -> tuple[int, str, str]:
    """Run the CLI in this process (fast: no interpreter start-up); returns (code, stdout, stderr)."""
    out, err = io.StringIO(), io.StringIO()
    code = main(list(argv), Streams(out=out, err=err, inp=io.StringIO("")))
    return code, out.getvalue(), err.getvalue()


class Served:
    """A running `reconciler emulator serve` subprocess: its URL, and its log once stopped."""

    def __init__(self, proc: subprocess.Popen[str], url: str, log_path: Path) -> None:
        self.proc = proc
        self.url = url
        self.log_path = log_path
        self.log = ""
        self.out = ""

    def wait_for_parked(self, count: int, timeout: float = 300.0) -> None:
        """Wait until COUNT requests are parked by ``--hold`` (the log's announcements); TIMEOUT is a hang
        guard only."""
        deadline = time.monotonic() + timeout
        while self.log_path.read_text().count("hold: ") < count:
            assert self.proc.poll() is None, f"emulator serve ended: {self.log_path.read_text()[-2000:]}"
            assert time.monotonic() < deadline, f"not {count} parked requests after {timeout} s"
            time.sleep(0.02)

    def release(self) -> None:
        """Let the requests parked by ``--hold`` go on (SIGUSR1)."""
        self.proc.send_signal(signal.SIGUSR1)


@contextlib.contextmanager
def serve(store_dir: Path, tmp_path: Path, *flags: str) -> Iterator[Served]:
    """`reconciler emulator serve --local STORE --port 0 FLAGS...`; stopped with SIGTERM afterwards."""
    # the request log goes to a file: a pipe nobody reads would fill up and stall the server
    log_path = tmp_path / f"serve-{time.monotonic_ns()}.log"
    with log_path.open("w") as log_file:
        proc = ForkedReconciler(reconciler("emulator", "serve", "--local", str(store_dir), "--port", "0", *flags),
                                env=cli_env(tmp_path), cwd=tmp_path, stdout=subprocess.PIPE, stderr=log_file,
                                text=True)
    assert proc.stdout is not None
    first = proc.stdout.readline()  # blocks until the server listens, or the process died
    if not first.startswith("listening on "):
        proc.kill()
        proc.communicate(timeout=SERVE_START_TIMEOUT)
        raise AssertionError(f"emulator serve did not start: {first!r} {log_path.read_text()[-2000:]!r}")
    served = Served(proc, first.split()[-1], log_path)
    try:
        yield served
    finally:
        proc.terminate()
        try:
            out, _ = proc.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            out, _ = proc.communicate(timeout=10)
        served.out, served.log = first + out, log_path.read_text()


def apply_report(stdout: str) -> list[dict[str, Any]]:
    """The per-image-set results of `apply --format json`."""
    results: list[dict[str, Any]] = json.loads(stdout)["image_sets"]
    return results
