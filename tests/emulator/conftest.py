"""Fixtures for the emulator tests: a store, seed documents, a fake clock and a client per transport.

``transport`` is parametrised over ``TRANSPORTS``: each entry builds a real boto3 client that talks to
the emulator on a store directory. The HTTP transport adds its own entry (a function with the same
signature); every test written against ``transport`` then runs on both.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from emuhelpers import DS, IS, NO_RETRIES, load_doc

from reconciler.emulator.inprocess import make_local_client
from reconciler.emulator.knobs import EmulatorConfig
from reconciler.emulator.store import Store

# A factory: (store_dir, config, clock) -> boto3 medical-imaging client. Setup/teardown via contextlib
# is left to each entry: it may register a finaliser with the pytest request passed in.
ClientFactory = Callable[[Path, EmulatorConfig | None, Callable[[], float] | None], Any]


class FakeClock:
    """A settable clock for the lazy lock: tests move time instead of sleeping."""

    def __init__(self, now: float = 1_700_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def _inprocess(request: pytest.FixtureRequest) -> ClientFactory:
    def make(store_dir: Path, config: EmulatorConfig | None = None,
             clock: Callable[[], float] | None = None) -> Any:
        kwargs: dict[str, Any] = {"clock": clock} if clock is not None else {}
        return make_local_client(str(store_dir), config, client_config=NO_RETRIES, **kwargs)

    return make


def _http(request: pytest.FixtureRequest) -> ClientFactory:
    """`emulator serve`'s server in a thread on the store; a real boto3 client over HTTP (SigV4)."""
    import boto3
    from botocore.config import Config

    from reconciler.emulator.http import start_server

    def make(store_dir: Path, config: EmulatorConfig | None = None,
             clock: Callable[[], float] | None = None) -> Any:
        cfg = config or EmulatorConfig()
        server, thread, url = start_server(store_dir, cfg, clock=clock)

        def stop() -> None:
            server.shutdown()
            server.server_close()
            thread.join(timeout=5)

        request.addfinalizer(stop)
        return boto3.client(
            "medical-imaging", region_name="us-east-1", endpoint_url=url,
            aws_access_key_id=cfg.access_key, aws_secret_access_key=cfg.secret_key,
            config=NO_RETRIES.merge(Config(inject_host_prefix=False)),
        )

    return make


TRANSPORTS: dict[str, Callable[[pytest.FixtureRequest], ClientFactory]] = {
    "inprocess": _inprocess,
    "http": _http,
}


@pytest.fixture(params=sorted(TRANSPORTS))
def transport(request: pytest.FixtureRequest) -> ClientFactory:
    """A client factory for one transport (ids: ``inprocess``, and ``http`` once it is added)."""
    return TRANSPORTS[request.param](request)


@pytest.fixture
def store_dir(tmp_path: Path) -> Path:
    return tmp_path / "store"


@pytest.fixture
def store(store_dir: Path) -> Store:
    return Store(store_dir)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def seeded(store: Store, clock: FakeClock) -> Iterator[Store]:
    """The store with datastore DS holding image set IS (seed_examples.json) at version 1.

    IS is a non-primary image set: the AWS update examples these tests follow change Patient- and
    Series-level attributes and UIDs, which a primary image set refuses (test_emulator_primary.py).
    """
    store.ensure_datastore(DS, "seeds", now=clock())
    store.put_image_set(DS, IS, load_doc("seed_examples.json"), is_primary=False, now=clock())
    yield store


@pytest.fixture
def client(transport: ClientFactory, store_dir: Path, seeded: Store, clock: FakeClock) -> Any:
    """A client on the seeded store, no lock time, no retries, driven by the fake clock."""
    return transport(store_dir, None, clock)
