"""Backend selection: from_options (built as the CLI builds a client) and api_from_args build the right
boto3 client, or a UsageError."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import pytest

from reconciler.cli import build_parser
from reconciler.client.backends import BackendOptions
from reconciler.client.healthimaging import HealthImaging
from reconciler.commands._common import Context, Streams, backend_from_args
from reconciler.emulator.store import Store
from reconciler.errors import CredentialsError, UsageError
from reconciler.local import connect
from tests.support.awsfakes import DS, IS, Answer, ScriptedTransport, image_set
from tests.support.backends import from_options


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No developer configuration, and never an instance-metadata lookup."""
    for name in ("AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_REGION", "AWS_DEFAULT_REGION", "AWS_ACCESS_KEY_ID",
                 "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_ENDPOINT_URL",
                 "AWS_ENDPOINT_URL_MEDICAL_IMAGING", "RECONCILER_LOCAL", "AWS_IGNORE_CONFIGURED_ENDPOINT_URLS"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-credentials"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")


def sent_url(api: HealthImaging) -> str:
    """The URL botocore would send a GetImageSet to (answered by a scripted transport)."""
    transport = ScriptedTransport(api.client, [Answer(body=image_set())])
    api.get_image_set(DS, IS)
    return transport.requests[0][2]


def test_real_aws_uses_the_runtime_host_of_the_configured_region(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_REGION", "eu-west-1")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "secret")
    api = from_options()
    assert urlparse(sent_url(api)).hostname == "runtime-medical-imaging.eu-west-1.amazonaws.com"
    assert api.client.meta.config.retries["total_max_attempts"] == 1  # our retry loop, not botocore's


def test_an_explicit_region_wins(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_REGION", "eu-west-1")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "secret")
    api = from_options(region="us-west-2")
    assert api.client.meta.region_name == "us-west-2"


def test_endpoint_url_turns_off_the_host_prefix_and_defaults_region_and_credentials() -> None:
    api = from_options(endpoint_url="http://127.0.0.1:4566")
    url = sent_url(api)
    assert url.startswith(f"http://127.0.0.1:4566/datastore/{DS}/imageSet/{IS}/getImageSet")
    assert api.client.meta.region_name == "us-east-1"
    assert api.client._request_signer._credentials.access_key == "test"


def test_endpoint_from_the_environment_is_custom_too(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_ENDPOINT_URL_MEDICAL_IMAGING", "http://localhost:4566")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "secret")
    api = from_options()
    assert urlparse(sent_url(api)).hostname == "localhost"
    assert api.client.meta.region_name == "us-east-1"


def test_local_answers_in_process(tmp_path: Path) -> None:
    from reconciler.errors import NotFound

    api = from_options(local_dir=str(tmp_path / "store"))
    assert "local store" in api.endpoint and (tmp_path / "store" / "emulator.sqlite3").is_file()
    with pytest.raises(NotFound):
        api.get_datastore(DS)


def test_real_aws_without_region_is_a_usage_error() -> None:
    with pytest.raises(UsageError, match="region"):
        from_options()


def test_real_aws_without_credentials_is_a_credentials_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_REGION", "us-east-1")
    api = from_options()
    with pytest.raises(CredentialsError):
        api.get_image_set(DS, IS)


def test_unknown_profile_is_a_usage_error() -> None:
    with pytest.raises(UsageError, match="nosuchprofile"):
        from_options(profile="nosuchprofile", endpoint_url="http://127.0.0.1:4566")


def parse(*extra: str) -> object:
    return build_parser().parse_args(["history", "--datastore-id", DS, "--image-set-id", IS, *extra])


def api_from_args(args: Any) -> HealthImaging:
    """The client a command run gets (``Context.api``), as the CLI builds it."""
    return Context(args, Streams()).api


def test_api_from_args_applies_rates_and_parallelism() -> None:
    args = parse("--endpoint-url", "http://127.0.0.1:4566", "--rate", "GetImageSet=2",
                 "--rate", "UpdateImageSetMetadata=0.1", "--parallelism", "20")
    api = api_from_args(args)  # type: ignore[arg-type]
    assert api.limiter.limit("GetImageSet") == (2.0, 2.0)
    assert api.limiter.limit("UpdateImageSetMetadata") == (0.1, 1.0)
    assert api.limiter.limit("GetImageSetMetadata") == (50.0, 100.0)
    assert api.client.meta.config.max_pool_connections == 20


def test_a_rate_option_can_give_the_burst() -> None:
    args = parse("--endpoint-url", "http://127.0.0.1:4566", "--rate", "UpdateImageSetMetadata=5:1",
                 "--rate", "*=10:4")
    api = api_from_args(args)  # type: ignore[arg-type]
    assert api.limiter.limit("UpdateImageSetMetadata") == (5.0, 1.0)
    assert api.limiter.limit("GetImageSet") == (10.0, 4.0)


def test_local_comes_from_the_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    Store(tmp_path)
    monkeypatch.setenv("RECONCILER_LOCAL", str(tmp_path))
    assert backend_from_args(parse()).kind == "local"  # type: ignore[arg-type]


def test_local_without_a_store_is_refused_and_nothing_is_created(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("RECONCILER_LOCAL", str(tmp_path / "stroe"))
    with pytest.raises(UsageError, match=r"no emulator store in .*stroe"):
        backend_from_args(parse())  # type: ignore[arg-type]
    assert not (tmp_path / "stroe").exists()


@pytest.mark.parametrize(
    "extra",
    [
        ("--rate", "GetImageSets=2"),  # typo in the operation
        ("--rate", "GetImageSet=0"),
        ("--rate", "GetImageSet=fast"),
        ("--rate", "GetImageSet"),
        ("--parallelism", "0"),
        ("--endpoint-url", "ftp://127.0.0.1"),
        ("--endpoint-url", "127.0.0.1:4566"),
        ("--endpoint-url", "http://127.0.0.1:99999"),
        ("--endpoint-url", "http://127.0.0.1:4566", "--local", "store"),
    ],
)
def test_bad_backend_options_are_usage_errors(extra: tuple[str, ...]) -> None:
    with pytest.raises(UsageError):
        api_from_args(parse(*extra))  # type: ignore[arg-type]


def test_a_star_rate_limits_every_operation() -> None:
    api = api_from_args(parse("--endpoint-url", "http://127.0.0.1:4566", "--rate", "*=3"))  # type: ignore[arg-type]
    assert api.limiter.limit("GetImageSetMetadata") == (3.0, 3.0)
    assert api.limiter.limit("UpdateImageSetMetadata") == (3.0, 3.0)


def test_an_unusable_local_store_is_a_usage_error(tmp_path: Path) -> None:
    not_a_dir = tmp_path / "file"
    not_a_dir.write_text("x")
    with pytest.raises(UsageError, match="--local"):
        connect(BackendOptions(local_dir=str(not_a_dir / "store")))


def test_the_client_alone_refuses_a_local_backend(tmp_path: Path) -> None:
    """Without the emulator attached (``reconciler.local`` does that), a --local client would send its
    requests to AWS: the client package refuses to build one."""
    from reconciler.client.session import connect as connect_client

    with pytest.raises(UsageError, match="--local"):
        connect_client(BackendOptions(local_dir=str(tmp_path / "store")))


def test_a_run_builds_its_options_and_client_once() -> None:
    ctx = Context(parse("--endpoint-url", "http://127.0.0.1:4566", "--rate", "GetImageSet=2"), Streams())  # type: ignore[arg-type]
    assert ctx.api is ctx.api and ctx.options is ctx.options
    assert ctx.api.limiter.limit("GetImageSet") == (2.0, 2.0)


def test_the_eta_rates_are_the_rates_the_client_paces_writes_at() -> None:
    cases = [((), (0.25, 0.25, 0.25)), (("--rate", "UpdateImageSetMetadata=2"), (2.0, 0.25, 0.25)),
             (("--rate", "*=3"), (3.0, 3.0, 3.0)),
             (("--rate", "CopyImageSet=0.5", "--rate", "DeleteImageSet=1"), (0.25, 0.5, 1.0))]
    for extra, rates in cases:
        ctx = Context(parse("--endpoint-url", "http://127.0.0.1:4566", *extra), Streams())  # type: ignore[arg-type]
        assert (ctx.rates.update, ctx.rates.copy, ctx.rates.delete) == rates
        paced = tuple(ctx.api.limiter.limit(op)[0]  # type: ignore[index]
                      for op in ("UpdateImageSetMetadata", "CopyImageSet", "DeleteImageSet"))
        assert paced == rates


def test_the_shared_loader_keeps_one_copy_of_each_search_path() -> None:
    """Every command of a process shares one botocore loader; boto3 adds its data folder on each session,
    which must not pile up over the commands of a long-running process."""
    first = from_options(endpoint_url="http://127.0.0.1:9", region="us-east-1").client
    loader = first._loader
    for _ in range(3):
        later = from_options(endpoint_url="http://127.0.0.1:9", region="us-east-1").client
        assert later._loader is loader  # the process's loader: the models are parsed once
    assert len(loader.search_paths) == len(set(loader.search_paths))
    assert any(path.endswith(os.path.join("boto3", "data")) for path in loader.search_paths)


def _handlers(core: Any) -> dict[tuple[str, ...], tuple[list[Any], ...]]:
    """Every handler a botocore session's emitter holds, by event name part (first, middle, last)."""
    out: dict[tuple[str, ...], tuple[list[Any], ...]] = {}

    def walk(node: dict[str, Any], path: tuple[str, ...]) -> None:
        if node["values"] is not None:
            out[path] = (list(node["values"].first), list(node["values"].middle), list(node["values"].last))
        for key, child in node["children"].items():
            walk(child, (*path, key))

    walk(core._original_handler._handlers._root, ())
    return out


def test_a_session_from_the_shared_handlers_holds_what_a_new_session_registers(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import botocore.handlers
    import botocore.session

    from reconciler.client.session import botocore_session

    first, second = botocore_session(), botocore_session()
    assert _handlers(first) == _handlers(botocore.session.Session())
    first.register("before-call.medical-imaging", lambda **_kw: None)  # a copy each: the other never sees it
    assert _handlers(second) == _handlers(botocore.session.Session())

    def added(**_kw: Any) -> None:
        return None

    # a handler a library adds to botocore's list (as moto does on import) reaches the sessions made after
    monkeypatch.setattr(botocore.handlers, "BUILTIN_HANDLERS", [*botocore.handlers.BUILTIN_HANDLERS,
                                                                ("before-send", added)])
    assert added in _handlers(botocore_session())[("before-send",)][1]
