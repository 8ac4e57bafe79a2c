"""The HealthImaging client: the only module of the reconciler that imports boto3.

``HealthImaging`` implements ``reconciler.api.HealthImagingAPI`` on a real boto3 client, for real AWS,
a custom endpoint, or the in-process emulator. Every request goes through the per-operation limiter
and our own retry loop; every botocore exception is translated into ``reconciler.errors`` here.

Why our own retries rather than botocore's: each retry must also take a limiter token (so retries
respect the quota the limiter paces), the clock and sleep must be injectable for tests, and a retried
UpdateImageSetMetadata needs care (see ``HealthImaging._update``). botocore's retry handler is
turned off (``total_max_attempts=1``) so attempts are not multiplied.
"""

from __future__ import annotations

import logging
import os
import random
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

import boto3
import botocore.session
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from reconciler import aws_errors as errs
from reconciler.api import HealthImagingAPI, ImageSetInfo, SearchHit, UpdateResult
from reconciler.aws_values import (
    CallStats,
    DatastoreInfo,
    datastore_info,
    describe,
    epoch,
    image_set_info,
    next_version,
)
from reconciler.backend import DEFAULT_LOCAL_REGION, BackendOptions
from reconciler.errors import ReconcilerError, ServiceError, StaleVersion, UsageError
from reconciler.ratelimit import Clock, RateLimiter, RetryPolicy, Sleep

if TYPE_CHECKING:
    from reconciler.emulator.knobs import EmulatorConfig
    from reconciler.emulator.service import Service

T = TypeVar("T")
log = logging.getLogger(__name__)  # IDs, operations and error codes only: never values

SEARCH_KEYS = (
    "DICOMPatientId",
    "DICOMAccessionNumber",
    "DICOMStudyId",
    "DICOMStudyInstanceUID",
    "DICOMSeriesInstanceUID",
)
# an endpoint that refuses connections (or never answers the handshake) rarely heals within seconds:
# give up on it sooner than on throttling or dropped connections
UNREACHABLE_ATTEMPTS = 3
PAGE_SIZE = 50  # the model's maximum maxResults for SearchImageSets and ListImageSetVersions
AWS_HOST_SUFFIXES = (".amazonaws.com", ".amazonaws.com.cn", ".api.aws")
# credential providers that query a metadata service over the network; never used for local backends
_NETWORK_PROVIDERS = ("iam-role", "container-role")


@dataclass
class _Trace:
    """What happened during the attempts of one call (read by the update guard logic)."""

    attempts: int = 0
    ambiguous: bool = False  # an attempt may have reached the service without us seeing the answer


class HealthImaging:
    """HealthImagingAPI over boto3, with pacing, retries and error translation. Thread-safe."""

    def __init__(
        self,
        client: Any,
        *,
        limiter: RateLimiter | None = None,
        retry: RetryPolicy | None = None,
        endpoint: str | None = None,
        clock: Clock = time.monotonic,
        sleep: Sleep = time.sleep,
        rand: Callable[[], float] = random.random,
    ) -> None:
        self.client = client
        # Our loop is the only retry loop, even on a client built elsewhere with botocore's retries on:
        # both botocore retry modes register under this id (botocore/client.py, retries/standard.py).
        client.meta.events.unregister("needs-retry.medical-imaging", unique_id="retry-config-medical-imaging")
        self.limiter = limiter or RateLimiter(clock=clock, sleep=sleep)
        self.retry = retry or RetryPolicy()
        self.endpoint = endpoint or str(getattr(getattr(client, "meta", None), "endpoint_url", "AWS"))
        self.stats = CallStats()
        self.emulator: Service | None = None  # the in-process emulator behind a local backend (tests)
        self._clock = clock
        self._sleep = sleep
        self._rand = rand

    # ----------------------------------------------------------------------------- construction

    @classmethod
    def from_options(
        cls,
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
        """Build a client for one of the three backends of ARCHITECTURE section 2.

        EMULATOR_CONFIG (lock time, faults, server-side rates) applies to ``local_dir`` only, for tests.
        """
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
        return cls.from_backend(options, retry=retry, emulator_config=emulator_config, clock=clock, sleep=sleep)

    @classmethod
    def from_backend(
        cls,
        options: BackendOptions,
        *,
        retry: RetryPolicy | None = None,
        emulator_config: EmulatorConfig | None = None,
        clock: Clock = time.monotonic,
        sleep: Sleep = time.sleep,
    ) -> HealthImaging:
        """Build a client from ``BackendOptions`` (validated here)."""
        options.validate()
        try:
            client = _make_client(options)
        except BotoCoreError as exc:
            raise errs.setup_error(exc, options) from exc
        endpoint = f"local store {options.local_dir}" if options.local_dir else client.meta.endpoint_url
        emulator = None
        if options.local_dir:
            # the emulator answers at the transport level; imported late so AWS users never load it
            from reconciler.emulator.inprocess import attach

            try:
                emulator = attach(client, options.local_dir, emulator_config)
            except ReconcilerError:
                raise
            except Exception as exc:  # an unusable directory (permissions, not a store, ...)
                raise UsageError(
                    f"--local {options.local_dir}: cannot open the emulator store ({type(exc).__name__})"
                ) from exc
        api = cls(
            client,
            limiter=RateLimiter(options.rates, bursts=options.bursts, clock=clock, sleep=sleep),
            retry=retry or RetryPolicy(max_attempts=options.max_attempts),
            endpoint=endpoint,
            clock=clock,
            sleep=sleep,
        )
        api.emulator = emulator
        return api

    # ----------------------------------------------------------------------------- the call loop

    def _call(
        self, op: str, context: str, fn: Callable[[], T], trace: _Trace | None = None, sent: Sequence[str] = (),
        cancel: threading.Event | None = None,
    ) -> T:
        """Run FN (one request of OP) through the limiter, retrying what is worth retrying.

        SENT are the patient values in the request, scrubbed from any service message we pass on. Once
        CANCEL is set the first attempt is not sent (``Cancelled``); retries of a sent one go on.
        """
        trace = trace or _Trace()
        spent = 0.0  # time in attempts and backoff; waiting for a limiter token does not count
        while True:
            # ended below: a strict operation is spaced from the answer; a retry of a sent request is not cancelled
            permit = self.limiter.begin(op, cancel if trace.attempts == 0 else None)
            self.stats.add(op, retry=trace.attempts > 0)
            trace.attempts += 1
            began = self._clock()
            try:
                return fn()
            except ReconcilerError:
                raise
            except (ClientError, BotoCoreError) as exc:
                spent += self._clock() - began
                kind = errs.retry_kind(exc)
                permit.failed(throttled=kind == errs.THROTTLE)  # before the backoff: it slows the pacer
                if kind == errs.AMBIGUOUS:
                    trace.ambiguous = True
                delay = None
                refused = kind == errs.UNSENT and trace.attempts >= UNREACHABLE_ATTEMPTS
                if kind is not None and not refused:
                    delay = self.retry.next_delay(trace.attempts, spent, self._rand)
                if delay is None:
                    raise errs.translate(exc, op, context, self.endpoint, trace.attempts, sent) from exc
                log.debug("%s for %s: %s (%s), retry %d in %.2f s", op, context, errs.code_of(exc), kind,
                          trace.attempts, delay)
                self._sleep(delay)
                spent += delay
            except Exception as exc:  # a bug below us (e.g. in a transport hook) must not leak
                raise ServiceError(
                    f"{op} failed for {context}: unexpected {type(exc).__name__}", code=type(exc).__name__
                ) from exc
            finally:
                permit.answered()  # no-op when failed() came first

    # ----------------------------------------------------------------------------- reads

    def get_image_set(self, datastore_id: str, image_set_id: str, version: str | None = None) -> ImageSetInfo:
        params: dict[str, Any] = {"datastoreId": datastore_id, "imageSetId": image_set_id}
        if version is not None:
            params["versionId"] = str(version)
        ctx = describe(datastore_id, image_set_id, version)
        resp = self._call("GetImageSet", ctx, lambda: self.client.get_image_set(**params))
        return image_set_info(resp, datastore_id)

    def get_image_set_metadata(
        self, datastore_id: str, image_set_id: str, version: str | None = None
    ) -> dict[str, Any]:
        params: dict[str, Any] = {"datastoreId": datastore_id, "imageSetId": image_set_id}
        if version is not None:
            params["versionId"] = str(version)
        ctx = describe(datastore_id, image_set_id, version)

        def fetch() -> tuple[bytes, str]:
            resp = self.client.get_image_set_metadata(**params)
            # reading the stream belongs to the attempt: a connection dropped mid-body is retried
            return resp["imageSetMetadataBlob"].read(), str(resp.get("contentEncoding") or "")

        raw, encoding = self._call("GetImageSetMetadata", ctx, fetch)
        return errs.decode_metadata(raw, encoding, ctx)

    def list_image_set_versions(self, datastore_id: str, image_set_id: str) -> Iterator[ImageSetInfo]:
        ctx = describe(datastore_id, image_set_id)
        for page in self._pages(
            "ListImageSetVersions",
            ctx,
            self.client.list_image_set_versions,
            {"datastoreId": datastore_id, "imageSetId": image_set_id},
        ):
            for item in page.get("imageSetPropertiesList", []):
                yield image_set_info(item, datastore_id)

    def search_image_sets(self, datastore_id: str, key: str, value: str) -> Iterator[SearchHit]:
        if key not in SEARCH_KEYS:
            raise UsageError(f"cannot search image sets by {key!r}", hint=f"use one of {', '.join(SEARCH_KEYS)}")
        criteria = {"filters": [{"operator": "EQUAL", "values": [{key: value}]}]}
        ctx = f"datastore {datastore_id} (search by {key})"
        params = {"datastoreId": datastore_id, "searchCriteria": criteria}
        for page in self._pages("SearchImageSets", ctx, self.client.search_image_sets, params, sent=[value]):
            for item in page.get("imageSetsMetadataSummaries", []):
                yield SearchHit(
                    image_set_id=str(item["imageSetId"]),
                    version=str(item["version"]),
                    updated_at=epoch(item.get("updatedAt")),
                    dicom_tags=item.get("DICOMTags"),
                )

    def _pages(
        self,
        op: str,
        ctx: str,
        method: Callable[..., dict[str, Any]],
        params: dict[str, Any],
        sent: Sequence[str] = (),
    ) -> Iterator[dict[str, Any]]:
        """Every page of a paginated operation, each page a paced, retried request."""
        token: str | None = None
        while True:
            page_params = dict(params, maxResults=PAGE_SIZE)
            if token:
                page_params["nextToken"] = token
            page = self._call(op, ctx, lambda p=page_params: method(**p), sent=sent)  # type: ignore[misc]
            yield page
            token = page.get("nextToken")
            if not token:
                return

    def get_datastore(self, datastore_id: str) -> DatastoreInfo:
        ctx = f"datastore {datastore_id}"
        resp = self._call("GetDatastore", ctx, lambda: self.client.get_datastore(datastoreId=datastore_id))
        return datastore_info(resp["datastoreProperties"])

    def list_datastores(self) -> Iterator[DatastoreInfo]:
        for page in self._pages("ListDatastores", "the datastores", self.client.list_datastores, {}):
            for item in page.get("datastoreSummaries", []):
                yield datastore_info(item)

    # ----------------------------------------------------------------------------- writes

    def create_datastore(self, name: str) -> str:
        """Create a datastore; return its ID (it may still be CREATING)."""
        resp = self._call(
            "CreateDatastore", f"datastore {name!r}", lambda: self.client.create_datastore(datastoreName=name)
        )
        return str(resp["datastoreId"])

    def delete_image_set(self, datastore_id: str, image_set_id: str) -> ImageSetInfo:
        ctx = describe(datastore_id, image_set_id)
        resp = self._call(
            "DeleteImageSet",
            ctx,
            lambda: self.client.delete_image_set(datastoreId=datastore_id, imageSetId=image_set_id),
        )
        return ImageSetInfo(
            datastore_id=datastore_id,
            image_set_id=image_set_id,
            version_id="",
            state=str(resp.get("imageSetState", "")),
            workflow_status=resp.get("imageSetWorkflowStatus"),
        )

    def update_image_set_metadata(
        self,
        datastore_id: str,
        image_set_id: str,
        latest_version: str,
        *,
        updatable: bytes | None = None,
        removable: bytes | None = None,
        force: bool = False,
        cancel: threading.Event | None = None,
    ) -> UpdateResult:
        if updatable is None and removable is None:
            raise UsageError(f"an update of image set {image_set_id} needs updatable or removable attributes")
        dicom: dict[str, bytes] = {}
        if updatable is not None:
            dicom["updatableAttributes"] = updatable
        if removable is not None:
            dicom["removableAttributes"] = removable
        return self._update(datastore_id, image_set_id, str(latest_version), {"DICOMUpdates": dicom}, force,
                            cancel)

    def revert_image_set(
        self, datastore_id: str, image_set_id: str, latest_version: str, to_version: str
    ) -> UpdateResult:
        updates = {"revertToVersionId": str(to_version)}
        return self._update(datastore_id, image_set_id, str(latest_version), updates, False)

    def _update(
        self, datastore_id: str, image_set_id: str, latest: str, updates: dict[str, Any], force: bool,
        cancel: threading.Event | None = None,
    ) -> UpdateResult:
        """One guarded UpdateImageSetMetadata.

        A retry after an ambiguous failure (dropped connection, timeout, 5xx) may find that the first
        attempt did land: the guard then answers ConflictException although the write is ours. When
        the image set is exactly one version past the guard after such a failure we take the write as
        ours; the apply layer verifies convergence by reading the metadata back anyway.
        """
        ctx = describe(datastore_id, image_set_id)
        trace = _Trace()
        dicom = updates.get("DICOMUpdates", {})
        sent = errs.sent_values(dicom.get("updatableAttributes"), dicom.get("removableAttributes"))

        def send() -> dict[str, Any]:
            resp: dict[str, Any] = self.client.update_image_set_metadata(
                datastoreId=datastore_id,
                imageSetId=image_set_id,
                latestVersionId=latest,
                force=force,
                updateImageSetMetadataUpdates=updates,
            )
            return resp

        try:
            resp = self._call("UpdateImageSetMetadata", ctx, send, trace, sent=sent, cancel=cancel)
        except ServiceError as err:
            if err.code != "ConflictException" or isinstance(err, StaleVersion):
                raise
            return self._resolve_conflict(datastore_id, image_set_id, latest, err, trace)
        return UpdateResult(
            datastore_id=str(resp.get("datastoreId", datastore_id)),
            image_set_id=str(resp.get("imageSetId", image_set_id)),
            latest_version_id=str(resp["latestVersionId"]),
            state=str(resp.get("imageSetState", "")),
            workflow_status=resp.get("imageSetWorkflowStatus"),
            message=resp.get("message"),
        )

    def _resolve_conflict(
        self, datastore_id: str, image_set_id: str, latest: str, err: ServiceError, trace: _Trace
    ) -> UpdateResult:
        """Turn a ConflictException on a guarded update into StaleVersion (or our own landed write)."""
        try:
            current: ImageSetInfo | None = self.get_image_set(datastore_id, image_set_id)
        except ReconcilerError:
            current = None  # best effort: the conflict is reported without the current version
        if current is not None and trace.ambiguous and current.version_id == next_version(latest):
            return UpdateResult(
                datastore_id=datastore_id,
                image_set_id=image_set_id,
                latest_version_id=current.version_id,
                state=current.state,
                workflow_status=current.workflow_status,
                message=current.message,
            )
        if current is not None and current.version_id == latest:
            # same version: not a lost race but a busy image set (LOCKED by an update in progress)
            raise ServiceError(
                f"UpdateImageSetMetadata conflict for {describe(datastore_id, image_set_id)}: "
                f"the image set is {current.state} at version {latest}",
                code="ConflictException",
                status=409,
                hint="wait until it is ACTIVE and retry",
            ) from err
        now = current.version_id if current is not None else None
        raise StaleVersion(
            f"image set {image_set_id} in datastore {datastore_id} changed since it was planned "
            f"(planned version {latest}, current version {now or 'unknown'})",
            planned_version=latest,
            current_version=now,
            hint="plan again to see the new live state",
        ) from err


# --------------------------------------------------------------------------------- helpers


def _make_client(options: BackendOptions) -> Any:
    """A medical-imaging boto3 client for OPTIONS, host-prefix injection off for custom endpoints."""
    core = botocore.session.Session(profile=options.profile)
    local = options.kind != "aws"
    if local:
        resolver = core.get_component("credential_provider")
        for name in _NETWORK_PROVIDERS:  # never probe an instance metadata service for a local backend
            resolver.remove(name)
    session = boto3.session.Session(botocore_session=core)
    # botocore reads AWS_DEFAULT_REGION and the profile; AWS_REGION (which newer SDKs prefer) we read here
    region = options.region or os.environ.get("AWS_REGION") or session.region_name
    custom_env = errs.configured_endpoint_env()
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
    if not local and not _is_aws_host(client.meta.endpoint_url):
        client = build(no_prefix=True)  # an endpoint from the environment or a profile is custom too
    return client


def _is_aws_host(url: str) -> bool:
    from urllib.parse import urlparse

    host = (urlparse(url).hostname or "").lower()
    return host.endswith(AWS_HOST_SUFFIXES)


def _conforms(api: HealthImaging) -> HealthImagingAPI:
    """Never called: mypy checks here that HealthImaging implements the protocol."""
    return api


__all__ = ["SEARCH_KEYS", "CallStats", "DatastoreInfo", "HealthImaging"]
