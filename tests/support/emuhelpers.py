"""Small helpers shared by the emulator tests: IDs, fixture documents, and calls on a boto3 client."""

from __future__ import annotations

import gzip
import json
import sqlite3
from pathlib import Path
from typing import Any

from botocore.config import Config

DATA = Path(__file__).resolve().parents[1] / "emulator" / "data"
NO_RETRIES = Config(retries={"total_max_attempts": 1, "mode": "standard"})  # faults stay visible
DS = "12345678901234567890123456789012"
IS = "ea92b0d8838c72a3f25d00d13616f87e"
SERIES = "1.1.1.1.1.1.12345.123456789012.123.12345678901234.1"
INSTANCE = SERIES
SERIES7 = "1.3.6.1.4.1.5962.99.1.3633258862.2104868982.1369432891697.3656.0"
INSTANCE7 = "1.3.6.1.4.1.5962.99.1.3633258862.2104868982.1369432891697.3659.0"


def copy_store(source: Path, target: Path) -> Path:
    """A copy of the emulator store in folder SOURCE at folder TARGET: a consistent snapshot through SQLite's
    online backup (https://www.sqlite.org/backup.html), whatever SOURCE's write-ahead log still holds. A
    fixture builds an expensive store once and gives each test its own copy, as isolated as a fresh build."""
    from reconciler.emulator.tables import DB_NAME

    target.mkdir(parents=True, exist_ok=True)
    with sqlite3.connect(source / DB_NAME) as src, sqlite3.connect(target / DB_NAME) as dst:
        src.backup(dst)
    src.close()
    dst.close()
    return target


def blob(tree: dict[str, Any]) -> bytes:
    """An update payload as bytes (botocore base64-encodes it on the wire)."""
    return json.dumps({"SchemaVersion": 1.1, **tree}).encode()


def update(
    client: Any,
    updatable: dict[str, Any] | None = None,
    removable: dict[str, Any] | None = None,
    *,
    version: str = "1",
    force: bool = False,
    image_set_id: str = IS,
) -> dict[str, Any]:
    """UpdateImageSetMetadata with DICOMUpdates built from partial trees."""
    updates: dict[str, Any] = {}
    if updatable is not None:
        updates["updatableAttributes"] = blob(updatable)
    if removable is not None:
        updates["removableAttributes"] = blob(removable)
    result: dict[str, Any] = client.update_image_set_metadata(
        datastoreId=DS, imageSetId=image_set_id, latestVersionId=version, force=force,
        updateImageSetMetadataUpdates={"DICOMUpdates": updates},
    )
    return result


def metadata(client: Any, version: str | None = None, image_set_id: str = IS) -> dict[str, Any]:
    """GetImageSetMetadata, gunzipped and parsed."""
    kwargs = {"versionId": version} if version else {}
    response = client.get_image_set_metadata(datastoreId=DS, imageSetId=image_set_id, **kwargs)
    doc: dict[str, Any] = json.loads(gzip.decompress(response["imageSetMetadataBlob"].read()))
    return doc


def error_code(exc: Any) -> str:
    return str(exc.response["Error"]["Code"])


def load_doc(name: str) -> dict[str, Any]:
    """A fixture document from data/ (see data/README.md)."""
    data: dict[str, Any] = json.loads((DATA / name).read_text())
    return data


def copy(
    client: Any,
    source: str = IS,
    version: str = "1",
    *,
    destination: tuple[str, str] | None = None,
    subset: dict[str, list[str]] | None = None,
    force: bool = False,
    promote: bool = False,
) -> dict[str, Any]:
    """CopyImageSet of SOURCE at VERSION: into a new image set, or DESTINATION (image set ID, version);
    SUBSET (series UID -> SOP instance UIDs, [] for the whole series) becomes ``copiableAttributes``."""
    source_info: dict[str, Any] = {"latestVersionId": version}
    if subset is not None:
        series = {s: ({"Instances": {i: {} for i in chosen}} if chosen else {}) for s, chosen in subset.items()}
        source_info["DICOMCopies"] = {"copiableAttributes": json.dumps(
            {"SchemaVersion": "1.1", "Study": {"Series": series}})}
    information: dict[str, Any] = {"sourceImageSet": source_info}
    if destination is not None:
        information["destinationImageSet"] = {"imageSetId": destination[0], "latestVersionId": destination[1]}
    result: dict[str, Any] = client.copy_image_set(
        datastoreId=DS, sourceImageSetId=source, copyImageSetInformation=information, force=force,
        promoteToPrimary=promote,
    )
    return result


def state(client: Any, image_set_id: str = IS, version: str | None = None) -> tuple[str, str, str]:
    """(versionId, imageSetState, imageSetWorkflowStatus) from GetImageSet."""
    kwargs = {"versionId": version} if version else {}
    got = client.get_image_set(datastoreId=DS, imageSetId=image_set_id, **kwargs)
    return str(got["versionId"]), str(got["imageSetState"]), str(got["imageSetWorkflowStatus"])


def seed_primary_and_copy(store: Any, now: float, copy_id: str) -> Any:
    """IS as a primary image set (what an import makes) and COPY_ID as a non-primary one holding the same
    seed document (what a first CopyImageSet makes); returns STORE."""
    seed = load_doc("seed_examples.json")
    store.ensure_datastore(DS, now=now)
    store.put_image_set(DS, IS, seed, now=now)
    store.put_image_set(DS, copy_id, seed, is_primary=False, now=now)
    return store
