"""The backend identity a saved plan records: a local store by absolute path, an endpoint by its URL,
real AWS by account (STS GetCallerIdentity, asked once and only when needed) and region."""

from __future__ import annotations

from pathlib import Path

import pytest
from moto import mock_aws

import reconciler.client.session as session
from reconciler.api import BackendIdentity
from tests.support.backends import from_options


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No developer configuration; made-up credentials; never an instance-metadata lookup."""
    for name in ("AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_REGION", "AWS_DEFAULT_REGION", "AWS_SESSION_TOKEN",
                 "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_MEDICAL_IMAGING", "AWS_ENDPOINT_URL_STS", "RECONCILER_LOCAL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-credentials"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "secret")


def test_a_local_store_is_known_by_its_absolute_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "a").mkdir()
    monkeypatch.chdir(tmp_path / "a")
    here = from_options(local_dir="../store").backend_identity()
    monkeypatch.chdir(tmp_path)
    assert here == from_options(local_dir="store").backend_identity()
    assert here == BackendIdentity("local", str((tmp_path / "store").resolve()))
    assert here != from_options(local_dir="other").backend_identity()


@pytest.mark.parametrize(("url", "known_as"), [
    ("http://127.0.0.1:4566", "http://127.0.0.1:4566"),
    ("http://LOCALHOST:4566/", "http://localhost:4566"),
])
def test_an_endpoint_is_known_by_its_url(url: str, known_as: str) -> None:
    assert from_options(endpoint_url=url).backend_identity() == BackendIdentity("endpoint", known_as)


def test_real_aws_is_known_by_account_and_region_from_sts() -> None:
    with mock_aws():  # moto answers STS in process: its default account
        api = from_options(region="eu-west-1")
        assert api.backend_identity() == BackendIdentity("aws", "eu-west-1", "123456789012")


def test_sts_is_asked_once_and_only_when_the_identity_is_needed(monkeypatch: pytest.MonkeyPatch) -> None:
    asked: list[str] = []

    def fake(sts_session: object, region: str, config: object) -> BackendIdentity:
        asked.append(region)
        return BackendIdentity("aws", region, "111122223333")

    monkeypatch.setattr(session, "aws_identity", fake)
    api = from_options(region="us-east-1")
    assert asked == []  # building the client (as every plan does) asks nothing
    assert api.backend_identity() == api.backend_identity() == BackendIdentity("aws", "us-east-1", "111122223333")
    assert asked == ["us-east-1"]


def test_sts_refusing_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    from reconciler.errors import CredentialsError

    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
    api = from_options(region="us-east-1")
    with pytest.raises(CredentialsError, match="GetCallerIdentity"):
        api.backend_identity()
