"""The emulator's service core: one ``handle(WireRequest) -> WireResponse`` behind both transports.

Responses are rest-json exactly as botocore parses them (JSON bodies, epoch-second timestamps with
millisecond precision, errors as status + ``x-amzn-ErrorType`` + ``{"message"}``), each with an
``x-amzn-RequestId`` header as AWS sends. Any unexpected exception becomes a 500
InternalServerException with a generic message: no traceback or document content ever leaves it.
Locks are lazy: an update stores "LOCKED until now + lock_seconds" and every read derives the state
from the clock, so no background thread is needed and the in-process transport behaves the same.
"""

from __future__ import annotations

import gzip
import json
import logging
import re
import time
import traceback
import uuid
from collections.abc import Callable
from typing import Any

from reconciler.emulator import search as search_mod
from reconciler.emulator.answers import datastore, flagged, properties, timestamp
from reconciler.emulator.copy_op import copy_image_set
from reconciler.emulator.errors import (
    ApiError,
    InternalError,
    ThrottlingError,
    ValidationError,
)
from reconciler.emulator.knobs import EmulatorConfig, Knobs
from reconciler.emulator.primary import check_primary, study_outcome
from reconciler.emulator.records import ms
from reconciler.emulator.routes import (
    Call,
    bool_param,
    decode_after,
    encode_after,
    error_response,
    image_set_arn,
    json_response,
    match,
    max_results,
    page,
    version_param,
)
from reconciler.emulator.search_sql import summary
from reconciler.emulator.store import NewVersion, Store, VersionRow
from reconciler.emulator.updates import outcome, parse_dicom_updates
from reconciler.emulator.wire import DropConnection, WireRequest, WireResponse

log = logging.getLogger(__name__)
_DATASTORE_STATUSES = ("CREATING", "CREATE_FAILED", "ACTIVE", "DELETING", "DELETED")
_TOKEN_RE = re.compile(r"[A-Za-z0-9._-]{1,64}")
_NAME_RE = re.compile(r"[A-Za-z0-9._/#-]{1,256}")


class Service:
    """The HealthImaging image-set API over a Store, with the knobs of an EmulatorConfig."""

    def __init__(
        self, store: Store, config: EmulatorConfig | None = None, clock: Callable[[], float] = time.time,
        *, rate_clock: Callable[[], float] = time.monotonic,
    ) -> None:
        """CLOCK stamps the store (epoch seconds); RATE_CLOCK refills the rate limits' buckets (a fake one in
        tests of the client's pacing)."""
        self.store = store
        self.config = config or EmulatorConfig()
        self.clock = clock
        self.knobs = Knobs(self.config, clock=rate_clock)  # rate_clock: what the rate limits refill by
        self._ops: dict[str, Callable[[Call], WireResponse]] = {
            "CreateDatastore": self.create_datastore,
            "GetDatastore": self.get_datastore,
            "ListDatastores": self.list_datastores,
            "GetImageSet": self.get_image_set,
            "GetImageSetMetadata": self.get_image_set_metadata,
            "UpdateImageSetMetadata": self.update_image_set_metadata,
            "ListImageSetVersions": self.list_image_set_versions,
            "SearchImageSets": self.search_image_sets,
            "DeleteImageSet": self.delete_image_set,
            "CopyImageSet": lambda call: copy_image_set(self.store, self.config, call),
        }

    def handle(self, req: WireRequest) -> WireResponse:
        """Answer one request. Raises only DropConnection (the ``drop`` fault)."""
        response = self._answer(req)
        return WireResponse(response.status, {**response.headers, "x-amzn-RequestId": str(uuid.uuid4())},
                            response.body)

    def _answer(self, req: WireRequest) -> WireResponse:
        try:
            operation, params = match(req)
            self.knobs.meet(operation)
            self.knobs.hold(operation)
            fault = self.knobs.fault(operation)
            if fault == "drop":
                raise DropConnection(operation)
            if fault == "throttle" or not self.knobs.admit(operation):
                self.knobs.count_throttle(operation)
                raise ThrottlingError("Rate exceeded")
            if fault == "500":
                raise InternalError("An unexpected error occurred during processing of the request.")
            return self._ops[operation](Call(operation, params, req, ms(self.clock()), fault))
        except DropConnection:
            raise
        except ApiError as exc:
            return error_response(exc)
        except Exception as exc:
            # Log where, never the exception text: it may quote document content (patient data).
            frame = traceback.extract_tb(exc.__traceback__)[-1]
            log.error("emulator: internal error %s at %s:%s on %s %s", type(exc).__name__,
                      frame.filename, frame.lineno, req.method, req.path[:200])
            return error_response(InternalError("An unexpected error occurred during processing of the request."))

    # -- datastores ---------------------------------------------------------------------------------

    def create_datastore(self, call: Call) -> WireResponse:
        body = call.json_body()
        name = body.get("datastoreName")
        if name is not None and not (isinstance(name, str) and _NAME_RE.fullmatch(name)):
            raise ValidationError("datastoreName must be 1-256 characters of [A-Za-z0-9._/#-]")
        token = body.get("clientToken")
        if token is not None and not (isinstance(token, str) and _TOKEN_RE.fullmatch(token)):
            raise ValidationError("clientToken must be 1-64 characters of [A-Za-z0-9._-]")
        datastore_id = self.store.create_datastore(name or "", now=call.now, client_token=token)
        return json_response({"datastoreId": datastore_id, "datastoreStatus": "ACTIVE"})

    def get_datastore(self, call: Call) -> WireResponse:
        row = self.store.get_datastore(call.datastore_id)
        return json_response({"datastoreProperties": datastore(row, self.config.region)})

    def list_datastores(self, call: Call) -> WireResponse:
        status = call.query("datastoreStatus")
        if status is not None and status not in _DATASTORE_STATUSES:
            raise ValidationError("datastoreStatus must be one of " + ", ".join(_DATASTORE_STATUSES))
        rows = [r for r in self.store.list_datastores() if status is None or r.status == status]
        chunk, token = page(rows, call, "datastores")
        return json_response({"datastoreSummaries": [datastore(r, self.config.region) for r in chunk],
                              "nextToken": token})

    # -- image sets ---------------------------------------------------------------------------------

    def get_image_set(self, call: Call) -> WireResponse:
        version = version_param(call.query("version"), "version")
        row = self.store.get_version(call.datastore_id, call.image_set_id, version, now=call.now)
        return json_response(flagged({
            "datastoreId": row.datastore_id,
            "imageSetId": row.image_set_id,
            "versionId": str(row.version),
            "imageSetState": row.state,
            "imageSetWorkflowStatus": row.workflow_status,
            "createdAt": timestamp(row.created_at),
            "updatedAt": timestamp(row.updated_at),
            "deletedAt": timestamp(row.deleted_at),
            "message": row.message,
            "imageSetArn": image_set_arn(row.datastore_id, row.image_set_id, self.config.region),
            "overrides": {"forced": True} if row.forced else None,
            "isPrimary": row.is_primary,
            **self._tier(row, call.now),
        }, self.config.omit_is_primary))

    def get_image_set_metadata(self, call: Call) -> WireResponse:
        version = version_param(call.query("version"), "version")
        # A metadata read is an access: it moves an archived image set back to FREQUENT_ACCESS.
        doc = self.store.get_document(call.datastore_id, call.image_set_id, version, touch=call.now)
        # level 1: the client cannot tell levels apart (RFC 1952 names none), and the default 9 costs
        # about five times the CPU on a big document for a fifth smaller body
        blob = gzip.compress(json.dumps(doc, separators=(",", ":")).encode(), compresslevel=1, mtime=0)
        headers = {"Content-Type": "application/json", "Content-Encoding": "gzip", "Content-Length": str(len(blob))}
        return WireResponse(200, headers, blob)

    def update_image_set_metadata(self, call: Call) -> WireResponse:
        datastore_id, image_set_id = call.datastore_id, call.image_set_id
        latest = version_param(call.query("latestVersion"), "latestVersion")
        if latest is None:
            raise ValidationError("latestVersion is required")
        force = bool_param(call, "force")
        study = bool_param(call, "includeStudyImageSets")
        body = call.json_body()
        if len(body) != 1 or not set(body) <= {"DICOMUpdates", "revertToVersionId"}:
            raise ValidationError("the body must hold exactly one of DICOMUpdates or revertToVersionId")
        lock_until = call.now + self.config.lock_seconds
        if "revertToVersionId" in body:
            if study:  # "not supported with revertToVersionId operations" (update-image-set-metadata page)
                raise ValidationError("includeStudyImageSets is not supported with revertToVersionId")
            build = self._revert(call, body["revertToVersionId"], force)
        else:
            updatable, removable = parse_dicom_updates(body["DICOMUpdates"], force=force,
                                                       blob_limit=self.config.blob_limit)
            target = self.store.get_version(datastore_id, image_set_id, now=call.now)
            if target.is_primary and target.deleted_at is None:
                check_primary(image_set_id, {"updatableAttributes": updatable, "removableAttributes": removable},
                              force=force, config=self.config)
            failed = call.fault == "update_failed"
            if study:
                if not target.is_primary and target.deleted_at is None:
                    raise ValidationError(f"includeStudyImageSets: image set {image_set_id} is not a primary "
                                          "image set")
                rows = self.store.commit_study_update(
                    datastore_id, image_set_id, latest,
                    study_outcome(updatable, removable, force=force, injected_failure=failed),
                    now=call.now, lock_until=lock_until)
                return self._accepted(rows[0])
            build = outcome(updatable, removable, force=force, injected_failure=failed)
        row = self.store.commit_update(datastore_id, image_set_id, latest, build, now=call.now,
                                       lock_until=lock_until)
        return self._accepted(row)

    @staticmethod
    def _accepted(row: VersionRow) -> WireResponse:
        """The answer to an accepted update: always the still-running update, as in the AWS examples."""
        return json_response({
            "datastoreId": row.datastore_id,
            "imageSetId": row.image_set_id,
            "latestVersionId": str(row.version),
            "imageSetState": "LOCKED",
            "imageSetWorkflowStatus": "UPDATING",
            "createdAt": timestamp(row.created_at),
            "updatedAt": timestamp(row.updated_at),
        })

    def _tier(self, row: VersionRow, now: float) -> dict[str, Any]:
        """``storageTier`` and ``lastAccessedAt`` (GetImageSet, search summaries): reading them is no access.

        https://docs.aws.amazon.com/healthimaging/latest/devguide/cost-optimization.html
        """
        return {"storageTier": row.storage_tier(now, self.config.archive_after),
                "lastAccessedAt": timestamp(row.last_accessed_at)}

    def _revert(self, call: Call, target: Any, force: bool) -> Callable[[dict[str, Any]], NewVersion]:
        """revertToVersionId: a new version holding that version's document (read first: immutable)."""
        wanted = version_param(target if isinstance(target, str) else "", "revertToVersionId")
        latest = self.store.get_version(call.datastore_id, call.image_set_id, now=call.now).latest_version
        if wanted is None or not 1 <= wanted <= latest:
            raise ValidationError(f"revertToVersionId must name an existing version (1-{latest})")
        document = self.store.get_document(call.datastore_id, call.image_set_id, wanted, now=call.now)
        failed = call.fault == "update_failed"
        if failed:
            return outcome(None, None, force=force, injected_failure=True)
        return lambda _current: NewVersion(document, "UPDATED", None, force)

    def list_image_set_versions(self, call: Call) -> WireResponse:
        max_results(call)  # validate before touching the store
        rows = self.store.list_versions(call.datastore_id, call.image_set_id, now=call.now)
        chunk, token = page(rows, call, f"versions:{call.image_set_id}")
        return json_response({"imageSetPropertiesList": [
            flagged(properties(r), self.config.omit_is_primary) for r in chunk], "nextToken": token})

    def search_image_sets(self, call: Call) -> WireResponse:
        """One page from the store's search indexes: a page costs the same however deep, however many."""
        size = max_results(call)
        criteria = call.json_body()
        query = search_mod.parse(criteria)
        scope = search_mod.scope(criteria)
        hits = self.store.search_page(call.datastore_id, query, decode_after(call, scope), size + 1, now=call.now)
        last = hits[size - 1] if len(hits) > size else None
        return json_response({
            "imageSetsMetadataSummaries": [flagged(summary(hit, call.now, self.config.archive_after),
                                                   self.config.omit_is_primary) for hit in hits[:size]],
            "sort": query.echo_sort,
            "nextToken": None if last is None else encode_after((last.sort_value, last.image_set_id), scope),
        })

    def delete_image_set(self, call: Call) -> WireResponse:
        """Asynchronous, as the AWS CLI example answers (LOCKED/DELETING): the image set stays LOCKED
        (readable, not writable) for ``lock_seconds``, then GetImageSet shows it DELETED with ``deletedAt``
        and every other operation answers ResourceNotFoundException.
        https://docs.aws.amazon.com/healthimaging/latest/devguide/delete-image-set.html"""
        self.store.delete_image_set(call.datastore_id, call.image_set_id, now=call.now,
                                    lock_until=call.now + self.config.lock_seconds)
        return json_response({
            "datastoreId": call.datastore_id,
            "imageSetId": call.image_set_id,
            "imageSetState": "LOCKED",
            "imageSetWorkflowStatus": "DELETING",
        })
