"""Where saved plans and apply journals live: a local path, or ``s3://bucket/key`` so that a CI job
can hand its reviewed plan to an apply job on another runner.

S3 objects are written with server-side encryption requested (``RECONCILER_S3_SSE``: ``AES256``, the
default, or ``aws:kms`` with an optional ``RECONCILER_S3_KMS_KEY_ID``) and with the sha256 of their
body in the object metadata. On read, the body must match that digest, and the object's ETag must
match the body's MD5 wherever S3 defines it so (single-part, not KMS-encrypted): a plan object that
was replaced or changed after saving is refused before anything is sent. The plan file's own
``plan_digest`` is checked after that by ``reconciler.plan.planfile``.
"""

from __future__ import annotations

import hashlib
import os
import re
from pathlib import Path
from typing import TYPE_CHECKING

from reconciler.errors import PlanFileError, UsageError

if TYPE_CHECKING:
    from reconciler.client.s3 import S3

SSE_ENV = "RECONCILER_S3_SSE"
KMS_KEY_ENV = "RECONCILER_S3_KMS_KEY_ID"
DIGEST_KEY = "reconciler-sha256"
ENCRYPTIONS = ("AES256", "aws:kms", "aws:kms:dsse")
_BUCKET_RE = re.compile(r"[a-z0-9][a-z0-9.\-]{1,61}[a-z0-9]")
_MD5_RE = re.compile(r"[0-9a-f]{32}")


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


def _client(s3: S3 | None) -> S3:
    if s3 is not None:
        return s3
    from reconciler.client.s3 import S3  # late: local plans never load boto3's S3 model

    return S3()


def put(url: str, data: bytes, s3: S3 | None = None) -> str:
    """Write ``data`` to the S3 object ``url`` (encrypted, digest in metadata); return its ETag."""
    bucket, key = split_s3(url)
    sse, kms_key = encryption()
    digest = hashlib.sha256(data).hexdigest()
    return _client(s3).put(url, bucket, key, data, metadata={DIGEST_KEY: digest}, encryption=sse,
                           kms_key_id=kms_key)


def get(url: str, s3: S3 | None = None, *, what: str = "plan") -> tuple[bytes, str]:
    """The body of the S3 object ``url`` and its ETag, after the integrity checks (PlanFileError;
    StorageNotFound when there is no such object). WHAT names the object in messages."""
    bucket, key = split_s3(url)
    obj = _client(s3).get(url, bucket, key)
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


def list_keys(prefix_url: str, s3: S3 | None = None, *, max_keys: int = 10_000) -> tuple[list[str], bool]:
    """The object URLs under an S3 prefix in key order (at most MAX_KEYS), and whether more are there."""
    bucket, prefix = split_s3(prefix_url, prefix=True)
    if prefix and not prefix.endswith("/"):
        prefix += "/"  # the folder upload_file writes into, not every key that starts alike
    keys, more = _client(s3).list(prefix_url, bucket, prefix, max_keys=max_keys)
    return [f"s3://{bucket}/{key}" for key in keys], more


def upload_file(local: Path, prefix_url: str, s3: S3 | None = None) -> str:
    """Copy a local file (a journal) under the S3 prefix; return the object's URL."""
    bucket, prefix = split_s3(prefix_url, prefix=True)
    key = f"{prefix}{local.name}" if not prefix or prefix.endswith("/") else f"{prefix}/{local.name}"
    url = f"s3://{bucket}/{key}"
    try:
        data = local.read_bytes()
    except OSError as exc:
        raise PlanFileError(f"cannot read {local} to upload it ({exc.strerror})") from None
    put(url, data, s3)
    return url
