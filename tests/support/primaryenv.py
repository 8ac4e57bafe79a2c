"""A study with primary and non-primary image sets, the CLI against it over both transports, and a record
of every UpdateImageSetMetadata request the emulator receives (for the primary-image-set tests)."""

from __future__ import annotations

import base64
import io
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from reconciler.cli import main
from reconciler.commands._common import Streams
from reconciler.emulator.knobs import EmulatorConfig
from reconciler.emulator.service import Service
from reconciler.emulator.store import Store
from reconciler.emulator.wire import WireRequest, WireResponse
from tests.support.applyenv import CLI_RATES, client
from tests.support.backends import cli_backend, isolate_aws

DS = "5" * 32
A, B, N, D = "a" * 32, "b" * 32, "c" * 32, "d" * 32  # primaries A, B; N non-primary; D another study
STUDY, OTHER = "1.2.840.99.0", "1.2.840.98.0"
SECRET = "QQPRIMARY^ZZNAME"


def document(n: int, study: str = STUDY) -> dict[str, Any]:
    return {
        "SchemaVersion": "1.1",
        "Patient": {"DICOM": {"PatientName": SECRET, "PatientID": "P1"}},
        "Study": {"DICOM": {"StudyInstanceUID": study, "StudyDescription": "CHEST", "AccessionNumber": "A1"},
                  "Series": {f"1.2.840.99.{n}": {
                      "DICOM": {"Modality": "CT", "SeriesNumber": 1},
                      "Instances": {f"1.2.840.99.{n}.1": {"DICOM": {"InstanceNumber": 1}}}}}},
    }


@dataclass(frozen=True)
class Sent:
    """One UpdateImageSetMetadata as the emulator received it."""

    image_set_id: str
    query: dict[str, str]
    blobs: dict[str, bytes]


@dataclass
class Env:
    root: Path
    store: Path
    backend: list[str]
    sent: list[Sent] = field(default_factory=list)

    def cli(self, *argv: str) -> tuple[int, str, str]:
        """A command against this backend (rates high enough for tests)."""
        out, err = io.StringIO(), io.StringIO()
        code = main([*argv, *self.backend, *CLI_RATES], Streams(out=out, err=err, inp=io.StringIO("")))
        return code, out.getvalue(), err.getvalue()

    def spec(self, name: str, text: str) -> None:
        (self.root / "specs" / name).write_text(text)

    def metadata(self, image_set_id: str) -> dict[str, Any]:
        return client(self.store).get_image_set_metadata(DS, image_set_id)

    def version(self, image_set_id: str) -> str:
        return client(self.store).get_image_set(DS, image_set_id).version_id


def head(image_set_id: str, extra: str = "") -> str:
    return (f"apiVersion: reconciler/v1\nkind: ImageSetMetadata\ntarget:\n  datastoreId: {DS}\n"
            f"  imageSetId: {image_set_id}\n{extra}desired:\n")


def seed(store_dir: Path) -> None:
    store = Store(store_dir)
    store.ensure_datastore(DS, "primaries")
    store.put_image_set(DS, A, document(1))
    store.put_image_set(DS, B, document(2))
    store.put_image_set(DS, N, document(3), is_primary=False)  # an import that conflicted with a primary
    store.put_image_set(DS, D, document(4, OTHER))


def record_updates(monkeypatch: pytest.MonkeyPatch) -> list[Sent]:
    """Every UpdateImageSetMetadata the emulator's service core answers (both transports go through it)."""
    sent: list[Sent] = []
    original = Service.handle

    def handle(self: Service, req: WireRequest) -> WireResponse:
        if req.path.endswith("/updateImageSetMetadata"):
            dicom = json.loads(req.body or b"{}").get("DICOMUpdates", {})
            sent.append(Sent(req.path.split("/")[-2], dict(req.query),
                             {k: base64.b64decode(v) for k, v in dicom.items()}))
        return original(self, req)

    monkeypatch.setattr(Service, "handle", handle)
    return sent


@pytest.fixture(params=["local", "http"])
def env(request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Env]:
    """The seeded study, the CLI in process (``--local``) or against ``emulator serve``'s HTTP server."""
    isolate_aws(tmp_path, monkeypatch, "RECONCILER_BLOB_LIMIT")
    monkeypatch.chdir(tmp_path)
    (tmp_path / "specs").mkdir()
    store = tmp_path / "store"
    seed(store)
    sent = record_updates(monkeypatch)
    with cli_backend(request.param, store, EmulatorConfig()) as args:
        yield Env(tmp_path, store, args, sent)
