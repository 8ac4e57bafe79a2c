"""Where the files the reconciler writes live (saved plans, drift states, apply journals): a local path, or
``s3://bucket/key`` so that a CI job can hand them to a job on another runner. One helper for all of them.

They hold patient data (a plan's before/after values) or what describes it, so:

- a local file is written to a temporary file created with mode 0600, fsync'd, and renamed over the old one
  (``os.replace`` is atomic on POSIX: a reader sees the old file or the new one, never half of one);
- an S3 object is written with server-side encryption requested (``RECONCILER_S3_SSE``: ``AES256``, the
  default, or ``aws:kms`` with an optional ``RECONCILER_S3_KMS_KEY_ID``) and the sha256 of its body in the
  object metadata. On read the body must match that digest, and the ETag must match the body's MD5
  wherever S3 defines it so (single-part, not KMS-encrypted:
  https://docs.aws.amazon.com/AmazonS3/latest/API/API_Object.html): an object replaced or changed after
  it was saved is refused before anything is sent.

S3 itself is behind the ``ObjectStore`` protocol (``reconciler.client.s3.S3`` implements it with boto3): the
layers that persist (plan, apply) never import the client, and the command context makes the one S3
client of a run, on first use, through the factory it gives ``Storage``.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import os
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Protocol

from reconciler.errors import PlanFileError, StorageNotFound, UsageError

SSE_ENV = "RECONCILER_S3_SSE"
KMS_KEY_ENV = "RECONCILER_S3_KMS_KEY_ID"
DIGEST_KEY = "reconciler-sha256"
ENCRYPTIONS = ("AES256", "aws:kms", "aws:kms:dsse")
_BUCKET_RE = re.compile(r"[a-z0-9][a-z0-9.\-]{1,61}[a-z0-9]")
_MD5_RE = re.compile(r"[0-9a-f]{32}")


@dataclass(frozen=True)
class S3Object:
    body: bytes
    etag: str  # without quotes
    metadata: dict[str, str]
    encryption: str | None  # the ServerSideEncryption the object reports (AES256, aws:kms, ...)


class ObjectStore(Protocol):
    """Whole small objects in S3, errors already translated into ``reconciler.errors``."""

    def put(self, url: str, bucket: str, key: str, data: bytes, *, metadata: dict[str, str],
            encryption: str, kms_key_id: str | None = None) -> str: ...

    def get(self, url: str, bucket: str, key: str) -> S3Object: ...

    def list(self, url: str, bucket: str, prefix: str, *, max_keys: int) -> tuple[list[str], bool]: ...


def is_s3(location: str | None) -> bool:
    return bool(location) and str(location).startswith("s3://")


def split_s3(url: str, *, prefix: bool = False) -> tuple[str, str]:
    """``s3://bucket/key`` -> (bucket, key); with ``prefix`` the key may be empty or end in ``/``."""
    rest = url[len("s3://"):]
    bucket, _, key = rest.partition("/")
    if not _BUCKET_RE.fullmatch(bucket):
        raise UsageError(f"{url}: not an S3 URL with a valid bucket name (s3://BUCKET/KEY)")
    if not prefix and (not key or key.endswith("/")):
        raise UsageError(f"{url}: name the object, e.g. s3://{bucket}/plans/pr-42.json")
    return bucket, key


def encryption() -> tuple[str, str | None]:
    """The server-side encryption to request, from the environment (default AES256)."""
    sse = os.environ.get(SSE_ENV) or "AES256"
    if sse not in ENCRYPTIONS:
        raise UsageError(f"{SSE_ENV}={sse!r}: use one of {', '.join(ENCRYPTIONS)}")
    return sse, os.environ.get(KMS_KEY_ENV) or None


def open_private(path: Path, *, append: bool = False) -> int:
    """A file descriptor of PATH opened for writing with mode 0600 (also when it existed with another mode)."""
    flags = os.O_WRONLY | os.O_CREAT | (os.O_APPEND if append else os.O_TRUNC)
    fd = os.open(path, flags, 0o600)
    os.fchmod(fd, 0o600)
    return fd


def write_local(path: Path, chunks: Iterable[bytes], *, sync: bool = True) -> None:
    """Write a local file atomically: a temporary file (0600) beside it, fsync'd (unless not SYNC), renamed
    over it (OSError)."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with os.fdopen(open_private(tmp), "wb") as fh:
            fh.writelines(chunks)
            fh.flush()
            if sync:
                os.fsync(fh.fileno())
        os.replace(tmp, path)
    except OSError:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise


class Storage:
    """Reads and writes whole files at a local path or an S3 URL. OBJECTS makes the S3 client; it is called
    at most once, when the first S3 location is used (local runs never load boto3's S3 model)."""

    def __init__(self, objects: Callable[[], ObjectStore] | None = None) -> None:
        self._make = objects
        self._objects: ObjectStore | None = None

    @property
    def objects(self) -> ObjectStore:
        if self._objects is None:
            if self._make is None:
                raise UsageError("this command cannot read or write S3 locations")
            self._objects = self._make()
        return self._objects

    def write(self, location: str, data: bytes | Iterable[bytes], *, what: str = "plan") -> str | None:
        """Write DATA (bytes, or chunks of them) to LOCATION: an S3 object (returns its ETag) or a local file
        (atomically, mode 0600; returns None). PlanFileError when it cannot be written."""
        chunks = [data] if isinstance(data, bytes) else data
        if is_s3(location):
            return self._put(location, b"".join(chunks))
        try:
            write_local(Path(location), chunks)
        except OSError as exc:
            raise PlanFileError(f"{location}: cannot write the {what} ({exc.strerror})") from None
        return None

    def read(self, location: str, *, what: str = "plan") -> tuple[bytes, str | None]:
        """The bytes at LOCATION and, for S3, the object's ETag after the integrity checks (PlanFileError;
        StorageNotFound when there is no such file or object). WHAT names it in messages."""
        if is_s3(location):
            return self._get(location, what)
        with self.open(location, what=what) as fh:
            return fh.read(), None

    def open(self, location: str, *, what: str = "plan") -> IO[bytes]:
        """LOCATION opened for reading: a local file is streamed; an S3 object is read whole and checked."""
        if is_s3(location):
            return io.BytesIO(self._get(location, what)[0])
        try:
            return open(location, "rb")
        except FileNotFoundError:
            raise StorageNotFound(f"{location}: cannot read the {what} (no such file)") from None
        except OSError as exc:
            raise PlanFileError(f"{location}: cannot read the {what} ({exc.strerror})") from None

    def list_keys(self, prefix_url: str, *, max_keys: int = 10_000) -> tuple[list[str], bool]:
        """The object URLs under an S3 prefix in key order (at most MAX_KEYS), and whether more are there."""
        bucket, prefix = split_s3(prefix_url, prefix=True)
        if prefix and not prefix.endswith("/"):
            prefix += "/"  # the folder upload writes into, not every key that starts alike
        keys, more = self.objects.list(prefix_url, bucket, prefix, max_keys=max_keys)
        return [f"s3://{bucket}/{key}" for key in keys], more

    def upload(self, local: Path, prefix_url: str) -> str:
        """Copy a local file (a journal) under the S3 prefix; return the object's URL."""
        bucket, prefix = split_s3(prefix_url, prefix=True)
        key = f"{prefix}{local.name}" if not prefix or prefix.endswith("/") else f"{prefix}/{local.name}"
        url = f"s3://{bucket}/{key}"
        try:
            data = local.read_bytes()
        except OSError as exc:
            raise PlanFileError(f"cannot read {local} to upload it ({exc.strerror})") from None
        self._put(url, data)
        return url

    def _put(self, url: str, data: bytes) -> str:
        bucket, key = split_s3(url)
        sse, kms_key = encryption()
        digest = hashlib.sha256(data).hexdigest()
        return self.objects.put(url, bucket, key, data, metadata={DIGEST_KEY: digest}, encryption=sse,
                                kms_key_id=kms_key)

    def _get(self, url: str, what: str) -> tuple[bytes, str]:
        bucket, key = split_s3(url)
        obj = self.objects.get(url, bucket, key)
        expected = obj.metadata.get(DIGEST_KEY)
        saver = "`reconciler plan --out`" if what == "plan" else "the reconciler"
        hint = "plan again with `reconciler plan --out`" if what == "plan" else None
        if not expected:
            raise PlanFileError(f"{url}: the object has no {DIGEST_KEY} metadata: it was not saved by {saver}, or "
                                "was replaced since", hint=hint if what != "plan" else "plan again")
        if hashlib.sha256(obj.body).hexdigest() != expected:
            raise PlanFileError(f"{url}: the object changed after it was saved (sha256 mismatch); refused", hint=hint)
        md5_etag = _MD5_RE.fullmatch(obj.etag.lower()) and not (obj.encryption or "").startswith("aws:kms")
        if md5_etag and hashlib.md5(obj.body).hexdigest() != obj.etag.lower():
            raise PlanFileError(f"{url}: the object's ETag does not match its body; refused")
        return obj.body, obj.etag
