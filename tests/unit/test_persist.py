"""``reconciler.persist``: the integrity checks of S3 objects, table-driven on a fake S3 answer, and atomic 0600 local
files."""

from __future__ import annotations

import hashlib
import stat
from pathlib import Path
from typing import Any

import pytest

from reconciler import persist as storage
from reconciler.errors import PlanFileError, StorageNotFound, UsageError
from reconciler.persist import S3Object, Storage

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
        assert Storage(lambda: fake).read("s3://bucket/plans/p.json") == (BODY, obj.etag)
    else:
        with pytest.raises(PlanFileError, match=message):
            Storage(lambda: fake).read("s3://bucket/plans/p.json")


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
    assert Storage(lambda: fake).write("s3://bucket/plans/p.json", BODY) == MD5
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
    files = Storage(lambda: fake)
    assert files.upload(journal, "s3://bucket/journals/") == "s3://bucket/journals/apply-1.jsonl"
    assert files.upload(journal, "s3://bucket/ci") == "s3://bucket/ci/apply-1.jsonl"


def test_the_s3_client_is_made_once_and_only_for_s3(tmp_path: Path) -> None:
    made: list[FakeS3] = []

    def make() -> Any:
        made.append(FakeS3(S3Object(BODY, MD5, {storage.DIGEST_KEY: SHA}, "AES256")))
        return made[-1]

    files = Storage(make)
    files.write(str(tmp_path / "local.json"), BODY)
    assert made == []  # a local file never makes the S3 client
    files.write("s3://bucket/a.json", BODY)
    files.read("s3://bucket/a.json")
    files.upload(tmp_path / "local.json", "s3://bucket/journals/")
    assert len(made) == 1 and len(made[0].puts) == 2


def test_local_files_are_written_atomically_with_mode_0600(tmp_path: Path) -> None:
    target = tmp_path / "plan.json"
    target.write_bytes(b"old")
    target.chmod(0o644)
    Storage().write(str(target), [b"new ", b"body"])
    assert target.read_bytes() == b"new body" and stat.S_IMODE(target.stat().st_mode) == 0o600
    assert [p.name for p in tmp_path.iterdir()] == ["plan.json"]  # no temporary file left behind


def test_a_local_file_that_cannot_be_written_names_it(tmp_path: Path) -> None:
    with pytest.raises(PlanFileError, match=r"missing/plan.json: cannot write the plan"):
        Storage().write(str(tmp_path / "missing" / "plan.json"), BODY)
    with pytest.raises(StorageNotFound, match=r"none.jsonl: cannot read the drift state \(no such file\)"):
        Storage().read(str(tmp_path / "none.jsonl"), what="drift state")


def test_without_an_s3_factory_s3_is_a_usage_error() -> None:
    with pytest.raises(UsageError, match="cannot read or write S3"):
        Storage().read("s3://bucket/a.json")
