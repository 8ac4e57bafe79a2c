"""CopyImageSet and DeleteImageSet in the client: the request, the answer, and what a refusal means.

CopyImageSet (https://docs.aws.amazon.com/healthimaging/latest/APIReference/API_CopyImageSet.html) is
asynchronous and not idempotent: a copy sent twice into a new image set makes two copies. So it is never
resent after a failure that may have reached the service (``OutcomeUnknown``: read the live state first),
and its ConflictException is read against the live state: a source or destination past its guarded
version is ``StaleVersion`` (exit 3), anything else (a LOCKED image set, a promotion refused while another
primary image set holds the same SOP instances) a ServiceError with the service's own message.

DeleteImageSet is idempotent in the model and asynchronous (LOCKED/DELETING, then DELETED): an image set
already DELETED or DELETING counts as deleted, which also settles a retry after an ambiguous failure.
https://docs.aws.amazon.com/healthimaging/latest/devguide/delete-image-set.html
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Collection, Mapping
from typing import Any, Protocol

from reconciler.api import CopyResult, ImageSetInfo
from reconciler.client.calls import Caller, Trace
from reconciler.client.values import describe, epoch
from reconciler.errors import OutcomeUnknown, ReconcilerError, ServiceError, StaleVersion

Reader = Callable[[str], ImageSetInfo | None]  # GetImageSet of an image set ID; None when it cannot be read
Subset = Mapping[str, Collection[str]]  # series UID -> SOP instance UIDs (empty: the whole series)


class _Client(Protocol):
    """What the operations below need of ``reconciler.client.healthimaging.HealthImaging``."""

    client: Any
    _caller: Caller

    def get_image_set(self, datastore_id: str, image_set_id: str, version: str | None = None) -> ImageSetInfo: ...


def read_quietly(api: _Client, datastore_id: str, image_set_id: str) -> ImageSetInfo | None:
    """GetImageSet, best effort: None when it cannot be read (the caller reports what it has)."""
    try:
        return api.get_image_set(datastore_id, image_set_id)
    except ReconcilerError:
        return None


class CopyAndDelete:
    """CopyImageSet and DeleteImageSet, as methods of ``HealthImaging``."""

    def delete_image_set(self: _Client, datastore_id: str, image_set_id: str) -> ImageSetInfo:
        """Start deleting an image set: the answer is LOCKED/DELETING; it is DELETED once that ends
        (``reconciler.apply.waiter.wait_until_deleted``). An image set already DELETED or DELETING
        (a retried or repeated request) answers with its current state instead of an error."""
        ctx = describe(datastore_id, image_set_id)
        try:
            resp = self._caller.call(
                "DeleteImageSet",
                ctx,
                lambda: self.client.delete_image_set(datastoreId=datastore_id, imageSetId=image_set_id),
            )
        except ServiceError as err:
            if err.code not in ("ConflictException", "ResourceNotFoundException"):
                raise
            current = read_quietly(self, datastore_id, image_set_id)
            if deletion_underway(current):
                assert current is not None
                return current
            if err.code == "ConflictException":
                raise ServiceError(err.message, code=err.code, status=err.status,
                                   hint="wait until the image set is ACTIVE and delete it again") from err
            raise
        return delete_answer(resp, datastore_id, image_set_id)

    def copy_image_set(
        self: _Client,
        datastore_id: str,
        source_image_set_id: str,
        source_version: str,
        *,
        destination: tuple[str, str] | None = None,
        subset: Subset | None = None,
        force: bool = False,
        promote: bool = False,
        cancel: threading.Event | None = None,
    ) -> CopyResult:
        """CopyImageSet of SOURCE_VERSION (guarded) into a new image set, or into DESTINATION (image set
        ID, guarded latest version) as its next version; SUBSET (series UID -> SOP instance UIDs, empty for
        the whole series) copies part of it; PROMOTE makes the new image set primary.

        The answer shows both image sets LOCKED; the outcome (COPIED, or COPY_FAILED with a message) is
        read with GetImageSet once they settle (``reconciler.apply.waiter.wait_until_settled`` on the
        destination's version). Raises ``StaleVersion`` when a guarded version is not the latest, and
        ``OutcomeUnknown`` when the request may have reached the service without an answer: it is not
        sent again, since a second copy would make a second image set.
        """
        info = copy_information(str(source_version), destination, subset)
        ctx = describe(datastore_id, source_image_set_id, str(source_version))
        trace = Trace()

        def send() -> dict[str, Any]:
            resp: dict[str, Any] = self.client.copy_image_set(
                datastoreId=datastore_id,
                sourceImageSetId=source_image_set_id,
                copyImageSetInformation=info,
                force=force,
                promoteToPrimary=promote,
            )
            return resp

        try:
            resp = self._caller.call("CopyImageSet", ctx, send, trace, cancel=cancel, resend_ambiguous=False)
        except ServiceError as err:
            if err.code == "ConflictException":
                guards = [(source_image_set_id, str(source_version)), *([destination] if destination else [])]
                raise copy_conflict(err, datastore_id, guards,
                                    lambda image_set: read_quietly(self, datastore_id, image_set)) from err
            if trace.ambiguous:
                raise OutcomeUnknown(
                    f"CopyImageSet for {ctx}: no answer after the request was sent ({err.code or 'no code'});"
                    " the copy may have been made",
                    code=err.code,
                    status=err.status,
                    hint="look for the copy (a new image set, or a new version of the destination) before "
                         "copying again",
                ) from err
            raise
        return copy_result(resp, datastore_id)


def copiable_attributes(subset: Subset) -> str:
    """``copiableAttributes``: the JSON string naming the series and instances to copy, shaped as the
    copy-image-set page's Example 3 (https://docs.aws.amazon.com/healthimaging/latest/devguide/copy-image-set.html)."""
    series: dict[str, Any] = {uid: ({"Instances": {i: {} for i in sorted(instances)}} if instances else {})
                              for uid, instances in sorted(subset.items())}
    return json.dumps({"SchemaVersion": "1.1", "Study": {"Series": series}}, separators=(",", ":"))


def copy_information(
    source_version: str, destination: tuple[str, str] | None, subset: Subset | None
) -> dict[str, Any]:
    """The ``copyImageSetInformation`` payload."""
    source: dict[str, Any] = {"latestVersionId": source_version}
    if subset is not None:
        source["DICOMCopies"] = {"copiableAttributes": copiable_attributes(subset)}
    info: dict[str, Any] = {"sourceImageSet": source}
    if destination is not None:
        info["destinationImageSet"] = {"imageSetId": destination[0], "latestVersionId": destination[1]}
    return info


def copy_result(resp: Mapping[str, Any], datastore_id: str) -> CopyResult:
    ds = str(resp.get("datastoreId", datastore_id))
    return CopyResult(ds, _properties(resp["sourceImageSetProperties"], ds),
                      _properties(resp["destinationImageSetProperties"], ds))


def _properties(item: Mapping[str, Any], datastore_id: str) -> ImageSetInfo:
    return ImageSetInfo(
        datastore_id=datastore_id,
        image_set_id=str(item["imageSetId"]),
        version_id=str(item["latestVersionId"]),
        state=str(item.get("imageSetState", "")),
        workflow_status=item.get("imageSetWorkflowStatus"),
        created_at=epoch(item.get("createdAt")),
        updated_at=epoch(item.get("updatedAt")),
    )


def copy_conflict(
    err: ServiceError, datastore_id: str, guards: list[tuple[str, str]], read: Reader
) -> ServiceError:
    """What a ConflictException on CopyImageSet means, read from the live state of the GUARDS
    ((image set ID, guarded version): the source first, then the destination if any)."""
    busy = []
    for image_set_id, planned in guards:
        current = read(image_set_id)
        if current is None:
            continue
        if current.version_id != planned:
            return StaleVersion(
                f"image set {image_set_id} in datastore {datastore_id} changed since it was planned "
                f"(planned version {planned}, current version {current.version_id})",
                planned_version=planned,
                current_version=current.version_id,
                hint="plan again to see the new live state",
            )
        if current.state == "LOCKED":
            busy.append(f"{image_set_id} is LOCKED ({current.workflow_status})")
    hint = "wait until it is ACTIVE and copy again" if busy else None
    return ServiceError(err.message, code=err.code, status=err.status, hint=hint)


def deletion_underway(info: ImageSetInfo | None) -> bool:
    """Whether an image set is DELETED or being deleted: what a DeleteImageSet would have made it."""
    return info is not None and (info.state == "DELETED" or info.workflow_status in ("DELETING", "DELETED"))


def delete_answer(resp: Mapping[str, Any], datastore_id: str, image_set_id: str) -> ImageSetInfo:
    """The DeleteImageSet answer (no version in it: ``version_id`` is empty)."""
    return ImageSetInfo(
        datastore_id=str(resp.get("datastoreId", datastore_id)),
        image_set_id=str(resp.get("imageSetId", image_set_id)),
        version_id="",
        state=str(resp.get("imageSetState", "")),
        workflow_status=resp.get("imageSetWorkflowStatus"),
    )
