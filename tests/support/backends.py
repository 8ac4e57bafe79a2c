"""Clients and servers for tests and benchmarks: a boto3 client answered in process by the emulator,
an ``emulator serve`` in a background thread, and a ``HealthImaging`` built from keyword options.

They live here, not in the package: production code reaches the emulator only through
``reconciler.local`` (for ``--local``) and ``reconciler emulator serve``.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TextIO

import boto3
from botocore.config import Config

from reconciler.client.backends import BackendOptions
from reconciler.client.healthimaging import HealthImaging
from reconciler.client.session import connect
from reconciler.emulator.http import EmulatorHTTPServer, make_server, open_service
from reconciler.emulator.inprocess import attach
from reconciler.emulator.knobs import EmulatorConfig
from reconciler.emulator.service import Service
from reconciler.ratelimit import Clock, RetryPolicy, Sleep


def make_local_client(
    store_dir: str,
    config: EmulatorConfig | None = None,
    region: str = "us-east-1",
    *,
    client_config: Config | None = None,
    clock: Callable[[], float] = time.time,
    rate_clock: Callable[[], float] = time.monotonic,
) -> Any:
    """A real boto3 client answered in process by the emulator on STORE_DIR (credentials test/test); RATE_CLOCK
    refills the emulator's rate limits."""
    client = boto3.client(
        "medical-imaging",
        region_name=region,
        aws_access_key_id=(config or EmulatorConfig()).access_key,
        aws_secret_access_key=(config or EmulatorConfig()).secret_key,
        config=client_config,
    )
    attach(client, store_dir, config, clock, rate_clock=rate_clock)
    return client


def start_server(
    store_dir: str | Path,
    config: EmulatorConfig,
    host: str = "127.0.0.1",
    port: int = 0,
    log: TextIO | None = None,
    clock: Callable[[], float] | None = None,
) -> tuple[EmulatorHTTPServer, threading.Thread, str]:
    """Serve the store in a background thread (``clock``: the service's clock, e.g. a fake one;
    signatures are always checked against real time). Stop with ``server.shutdown(); server.server_close()``."""
    server = make_server(open_service(store_dir, config, clock), host, port, access_key=config.access_key,
                         secret_key=config.secret_key, log=log, region=config.region)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, name="emulator-http",
                              daemon=True)
    thread.start()
    return server, thread, server.url


def from_options(
    region: str | None = None,
    profile: str | None = None,
    endpoint_url: str | None = None,
    local_dir: str | None = None,
    rates: Mapping[str, float] | None = None,
    max_attempts: int = 8,
    connect_timeout: float = 10.0,
    read_timeout: float = 60.0,
    parallelism: int = 8,
    *,
    retry: RetryPolicy | None = None,
    emulator_config: EmulatorConfig | None = None,
    clock: Clock = time.monotonic,
    sleep: Sleep = time.sleep,
) -> HealthImaging:
    """A client for one of the three backends, built from keyword options as the CLI builds it."""
    options = BackendOptions(
        region=region,
        profile=profile,
        endpoint_url=endpoint_url,
        local_dir=local_dir,
        rates=dict(rates or {}),
        parallelism=parallelism,
        max_attempts=max_attempts,
        connect_timeout=connect_timeout,
        read_timeout=read_timeout,
    )
    return from_backend(options, retry=retry, emulator_config=emulator_config, clock=clock, sleep=sleep)


def from_backend(
    options: BackendOptions,
    *,
    retry: RetryPolicy | None = None,
    emulator_config: EmulatorConfig | None = None,
    clock: Clock = time.monotonic,
    sleep: Sleep = time.sleep,
) -> HealthImaging:
    """The client ``reconciler.client.session.connect`` builds for OPTIONS; EMULATOR_CONFIG (lock time,
    faults, server-side rates) configures the in-process emulator of a local backend."""
    if options.local_dir:
        return connect_local(options, emulator_config, retry=retry, clock=clock, sleep=sleep)[0]
    return connect(options, retry=retry, clock=clock, sleep=sleep)


def connect_local(
    options: BackendOptions,
    emulator_config: EmulatorConfig | None = None,
    *,
    retry: RetryPolicy | None = None,
    clock: Clock = time.monotonic,
    sleep: Sleep = time.sleep,
) -> tuple[HealthImaging, Service]:
    """A local backend's client and the in-process emulator service answering it (its knobs, store and
    throttle counts are the test's to read)."""
    assert options.local_dir, "connect_local needs BackendOptions(local_dir=...)"
    store_dir = options.local_dir
    attached: list[Service] = []

    def transport(client: Any) -> None:
        attached.append(attach(client, store_dir, emulator_config))

    api = connect(options, transport=transport, retry=retry, clock=clock, sleep=sleep)
    return api, attached[0]


def isolate_aws(tmp_path: Path, monkeypatch: Any, *also_unset: str) -> None:
    """Test credentials, no AWS config or credentials file, no profile or endpoint from the shell: the CLI
    under test talks to the emulator only. ALSO_UNSET: further variables to remove."""
    for name, value in {"AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test",
                        "AWS_CONFIG_FILE": str(tmp_path / "none"),
                        "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "none")}.items():
        monkeypatch.setenv(name, value)
    for name in ("AWS_PROFILE", "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_MEDICAL_IMAGING", "RECONCILER_LOCAL",
                 *also_unset):
        monkeypatch.delenv(name, raising=False)


def local_knobs(monkeypatch: Any, config: EmulatorConfig) -> None:
    """The CLI's ``--local`` emulator (``reconciler.local`` attaches it) runs with CONFIG's knobs, as
    ``emulator serve`` runs with the same flags: the CLI itself has no option for them. Forked children
    inherit it; a ``python -m reconciler`` subprocess does not."""
    from reconciler.emulator import inprocess

    real = inprocess.attach

    def attach(client: Any, store_dir: str, given: EmulatorConfig | None = None,
               clock: Callable[[], float] = time.time, *, rate_clock: Callable[[], float] = time.monotonic) -> Service:
        return real(client, store_dir, given or config, clock, rate_clock=rate_clock)

    monkeypatch.setattr(inprocess, "attach", attach)


@contextmanager
def cli_backend(kind: str, store: Path, config: EmulatorConfig) -> Iterator[list[str]]:
    """The CLI arguments that reach STORE: ``--local`` (in process) for KIND ``local``, else ``--endpoint-url``
    of an ``emulator serve`` HTTP server started with CONFIG and shut down afterwards."""
    if kind == "local":
        yield ["--local", str(store)]
        return
    server, _thread, url = start_server(store, config)
    try:
        yield ["--endpoint-url", url]
    finally:
        server.shutdown()
        server.server_close()
        _thread.join(timeout=5)
