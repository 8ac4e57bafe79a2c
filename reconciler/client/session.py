"""Building the client for a backend: the boto3 session and ``medical-imaging`` client (region,
credentials, endpoint, timeouts), the limiter and retry budget of the options, and the backend identity.

The emulator is unknown here: a local backend is answered by a ``transport`` that the caller attaches
to the boto3 client (``reconciler.local`` attaches the in-process emulator), so that the client and
the emulator stay independent of each other.
"""

from __future__ import annotations

import copy
import os
import threading
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import urlparse

import boto3
import botocore.handlers
import botocore.hooks
import botocore.loaders
import botocore.session
from botocore.config import Config
from botocore.exceptions import BotoCoreError

from reconciler.api import BackendIdentity
from reconciler.client import errors as errs
from reconciler.client.backends import DEFAULT_LOCAL_REGION, BackendOptions
from reconciler.client.healthimaging import HealthImaging
from reconciler.client.identity import aws_identity, endpoint_identity, local_identity
from reconciler.errors import UsageError
from reconciler.learned import RateMemory, rates_path
from reconciler.ratelimit import Clock, RateLimiter, RetryPolicy, Sleep

AWS_HOST_SUFFIXES = (".amazonaws.com", ".amazonaws.com.cn", ".api.aws")
# credential providers that query a metadata service over the network; never used for local backends
_NETWORK_PROVIDERS = ("iam-role", "container-role")
Transport = Callable[[Any], None]  # attaches something that answers the boto3 client's requests
# One botocore data loader per data path for the whole process. A loader keeps the service models and
# endpoint rules it has parsed (its instance cache), so the session of every later command in the same
# process skips listing botocore's data directory and parsing those JSON files again
# (https://github.com/boto/botocore/blob/develop/botocore/loaders.py).
_LOADERS: dict[str | None, Any] = {}
# botocore's built-in event handlers, registered once per process into an emitter that each new session gets
# a copy of (as each client gets a copy of its session's): registering the ~130 of them one by one costs a
# new session ~7 ms; the copy ~0.5 ms. Kept with the BUILTIN_HANDLERS list it was built from: a library
# that adds to that list (moto does, on import) gets a new one.
_EMITTER: list[tuple[tuple[Any, ...], Any]] = []
_EMITTER_LOCK = threading.Lock()


def connect(
    options: BackendOptions,
    *,
    transport: Transport | None = None,
    retry: RetryPolicy | None = None,
    clock: Clock = time.monotonic,
    sleep: Sleep = time.sleep,
) -> HealthImaging:
    """The client for OPTIONS (validated here), paced by its rates. A local backend needs TRANSPORT."""
    options.validate()
    if options.kind == "local" and transport is None:
        raise UsageError(f"--local {options.local_dir}: no in-process transport to answer it")
    try:
        client, session = _make_client(options)
    except BotoCoreError as exc:
        raise errs.setup_error(exc, options) from exc
    if transport is not None:
        transport(client)
    memory: RateMemory | None = None
    if options.local_dir:
        endpoint = f"local store {options.local_dir}"
        identity = local_identity(options.local_dir)

        def identify() -> BackendIdentity:
            return identity

        # the emulator's limits are its own: --local is paced only where --rate asks
        limiter = RateLimiter(options.rates, bursts=options.bursts, quotas={}, clock=clock, sleep=sleep)
    else:
        endpoint = client.meta.endpoint_url
        identify = _identify_remote(client, session, options)
        region = str(client.meta.region_name)
        memory = RateMemory(rates_path(), lambda: memory_key(api.backend_identity(), region))
        limiter = RateLimiter(options.rates, bursts=options.bursts, clock=clock, sleep=sleep, adaptive=True,
                              learned=memory.recall)
    api = HealthImaging(
        client,
        limiter=limiter,
        retry=retry or RetryPolicy(max_attempts=options.max_attempts),
        endpoint=endpoint,
        identify=identify,
        clock=clock,
        sleep=sleep,
        memory=memory,
    )
    return api


def memory_key(identity: BackendIdentity, region: str) -> str:
    """The learned-rates key of a backend: ``aws ACCOUNT REGION``, or ``endpoint URL REGION``."""
    if identity.kind == "aws":
        return f"aws {identity.account} {identity.location}"
    return f"{identity.kind} {identity.location} {region}"


def _identify_remote(client: Any, session: Any, options: BackendOptions) -> Callable[[], BackendIdentity]:
    """An endpoint is known by its URL; real AWS (an AWS host) by account and region, asked lazily."""
    url = str(client.meta.endpoint_url)
    if not is_aws_host(url):
        return lambda: endpoint_identity(url, str(client.meta.region_name))
    config = Config(connect_timeout=options.connect_timeout, read_timeout=options.read_timeout,
                    retries={"total_max_attempts": 3, "mode": "standard"})
    return lambda: aws_identity(session, str(client.meta.region_name), config)


def _make_client(options: BackendOptions) -> tuple[Any, Any]:
    """A medical-imaging boto3 client for OPTIONS (host-prefix injection off for custom endpoints),
    and the boto3 session it was made from."""
    core = botocore_session(options.profile)
    local = options.kind != "aws"
    if local:
        resolver = core.get_component("credential_provider")
        for name in _NETWORK_PROVIDERS:  # never probe an instance metadata service for a local backend
            resolver.remove(name)
    session = boto3_session(core)
    # botocore reads AWS_DEFAULT_REGION and the profile; AWS_REGION (which newer SDKs prefer) we read here
    region = options.region or os.environ.get("AWS_REGION") or session.region_name
    custom_env = configured_endpoint_env()
    if not region and (local or custom_env):
        region = DEFAULT_LOCAL_REGION
    if not region:
        raise UsageError("no AWS region configured", hint="pass --region or set AWS_REGION")
    creds: dict[str, str] = {}
    if local and session.get_credentials() is None:
        creds = {"aws_access_key_id": "test", "aws_secret_access_key": "test"}  # the emulator's default

    def build(no_prefix: bool) -> Any:
        config = Config(
            region_name=region,
            connect_timeout=options.connect_timeout,
            read_timeout=options.read_timeout,
            retries={"total_max_attempts": 1, "mode": "standard"},
            max_pool_connections=max(10, options.parallelism),
            inject_host_prefix=not no_prefix,
        )
        return session.client("medical-imaging", endpoint_url=options.endpoint_url, config=config, **creds)

    client = build(no_prefix=local)
    if not local and not is_aws_host(client.meta.endpoint_url):
        client = build(no_prefix=True)  # an endpoint from the environment or a profile is custom too
    return client, session


def botocore_session(profile: str | None = None) -> Any:
    """A new botocore session (for PROFILE) with the process's shared loader and built-in handlers: the same
    session as ``botocore.session.Session(profile=PROFILE)``, made without parsing or registering again."""
    core = botocore.session.Session(profile=profile, event_hooks=_builtin_handlers(), include_builtin_handlers=False)
    core.register_component("data_loader", _shared_loader(core))
    return core


def _builtin_handlers() -> Any:
    """A new copy of an emitter holding botocore's built-in handlers as ``Session()`` registers them."""
    specs = tuple(botocore.handlers.BUILTIN_HANDLERS)
    with _EMITTER_LOCK:
        if not _EMITTER or len(_EMITTER[0][0]) != len(specs) or any(
            a is not b for a, b in zip(_EMITTER[0][0], specs, strict=True)
        ):
            emitter = botocore.hooks.HierarchicalEmitter()
            botocore.session.Session(event_hooks=emitter)  # registers them into EMITTER, and nothing else
            _EMITTER[:] = [(specs, emitter)]
        template = _EMITTER[0][1]
    return copy.copy(template)


def _shared_loader(core: Any) -> Any:
    """The process's loader for CORE's data path (``AWS_DATA_PATH`` or the profile's ``data_path``)."""
    path = core.get_config_variable("data_path")
    loader = _LOADERS.get(path)
    if loader is None:
        loader = _LOADERS[path] = botocore.loaders.create_loader(path)
    return loader


def boto3_session(core: Any) -> Any:
    """A boto3 session on CORE (a ``botocore_session()``). Each boto3 session appends boto3's data folder to
    its loader's search paths; the loader being the process's own, the repeats are dropped, or a long-running
    process (``adt listen``) would grow the list by one path per command
    (https://github.com/boto/boto3/blob/develop/boto3/session.py, ``_setup_loader``)."""
    session = boto3.session.Session(botocore_session=core)
    paths = session._loader.search_paths
    paths[:] = list(dict.fromkeys(paths))
    return session


def is_aws_host(url: str) -> bool:
    host = (urlparse(url).hostname or "").lower()
    return host.endswith(AWS_HOST_SUFFIXES)


def configured_endpoint_env() -> bool:
    """True when the environment points medical-imaging at a custom endpoint."""
    if os.environ.get("AWS_IGNORE_CONFIGURED_ENDPOINT_URLS", "").lower() == "true":
        return False
    return bool(os.environ.get("AWS_ENDPOINT_URL_MEDICAL_IMAGING") or os.environ.get("AWS_ENDPOINT_URL"))
