"""The integrity checks of S3 plan objects (``reconciler.client.storage``), table-driven on a fake S3 answer."""

from __future__ import annotations

import hashlib
from typing import Any

import pytest

from reconciler.client import storage
from reconciler.client.s3 import S3Object
from reconciler.errors import PlanFileError, UsageError

BODY = b'{"format": "reconciler-plan"}'
SHA = hashlib.sha256(BODY).hexdigest()
MD5 = hashlib.md5(BODY).hexdigest()


class FakeS3:
    """Stands in for ``reconciler.client.s3.S3``: answers one object, records puts."""

    def __init__(self, obj: S3Object | None = None) -> None:
        self.obj = obj
        self.puts: list[dict[str, Any]] = []

    def get(self, url: str, bucket: str, key: str) -> S3Object:
        assert self.obj is not None
        return self.obj

    def put(self, url: str, bucket: str, key: str, data: bytes, **kwargs: Any) -> str:
        self.puts.append({"bucket": bucket, "key": key, "data": data, **kwargs})
        return MD5


@pytest.mark.parametrize(("obj", "message"), [
    (S3Object(BODY, MD5, {storage.DIGEST_KEY: SHA}, "AES256"), None),
    (S3Object(BODY, "0f" * 16 + "-2", {storage.DIGEST_KEY: SHA}, "AES256"), None),  # multipart ETag
    (S3Object(BODY, "ab" * 16, {storage.DIGEST_KEY: SHA}, "aws:kms"), None),  # KMS: ETag is not the MD5
    (S3Object(BODY, MD5, {}, "AES256"), "no reconciler-sha256 metadata"),
    (S3Object(BODY + b" ", MD5, {storage.DIGEST_KEY: SHA}, "AES256"), "changed after it was saved"),
    (S3Object(BODY, "ab" * 16, {storage.DIGEST_KEY: SHA}, "AES256"), "ETag does not match"),
])
def test_get_checks_digest_and_etag(obj: S3Object, message: str | None) -> None:
    fake: Any = FakeS3(obj)
    if message is None:
        assert storage.get("s3://bucket/plans/p.json", fake) == (BODY, obj.etag)
    else:
        with pytest.raises(PlanFileError, match=message):
            storage.get("s3://bucket/plans/p.json", fake)


@pytest.mark.parametrize(("env", "expected"), [
    ({}, ("AES256", None)),
    ({storage.SSE_ENV: "aws:kms", storage.KMS_KEY_ENV: "alias/plans"}, ("aws:kms", "alias/plans")),
])
def test_put_requests_encryption_and_stores_the_digest(
    monkeypatch: pytest.MonkeyPatch, env: dict[str, str], expected: tuple[str, str | None]
) -> None:
    for name in (storage.SSE_ENV, storage.KMS_KEY_ENV):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    fake: Any = FakeS3()
    assert storage.put("s3://bucket/plans/p.json", BODY, fake) == MD5
    put = fake.puts[0]
    assert (put["bucket"], put["key"]) == ("bucket", "plans/p.json")
    assert (put["encryption"], put["kms_key_id"]) == expected and put["metadata"] == {storage.DIGEST_KEY: SHA}


@pytest.mark.parametrize(("url", "prefix", "message"), [
    ("s3://B_/x", False, "valid bucket name"),
    ("s3://bucket", False, "name the object"),
    ("s3://bucket/plans/", False, "name the object"),
])
def test_bad_urls_are_usage_errors(url: str, prefix: bool, message: str) -> None:
    with pytest.raises(UsageError, match=message):
        storage.split_s3(url, prefix=prefix)


def test_unknown_encryption_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(storage.SSE_ENV, "rot13")
    with pytest.raises(UsageError, match="RECONCILER_S3_SSE"):
        storage.encryption()


def test_journal_upload_goes_under_the_prefix(tmp_path: Any) -> None:
    journal = tmp_path / "apply-1.jsonl"
    journal.write_bytes(b"{}\n")
    fake: Any = FakeS3()
    assert storage.upload_file(journal, "s3://bucket/journals/", fake) == "s3://bucket/journals/apply-1.jsonl"
    assert storage.upload_file(journal, "s3://bucket/ci", fake) == "s3://bucket/ci/apply-1.jsonl"
