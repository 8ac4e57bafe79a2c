"""The CopyImageSet operation: ``POST /datastore/{datastoreId}/imageSet/{sourceImageSetId}/copyImageSet``
with the query parameters ``force`` and ``promoteToPrimary`` and ``copyImageSetInformation`` as the body
(the ``medical-imaging`` 2023-07-19 model;
https://docs.aws.amazon.com/healthimaging/latest/APIReference/API_CopyImageSet.html).

The request is checked here and in ``reconciler.emulator.copies``, run by the store in one transaction
(``reconciler.emulator.copy_store``), and answered with the model's ``CopyImageSetResponse``: the source
and the destination, both LOCKED, as the AWS CLI examples show them (``COPYING_WITH_READ_ONLY_ACCESS``
and ``COPYING``, https://docs.aws.amazon.com/healthimaging/latest/devguide/copy-image-set.html). Like an
accepted update, the answer is always the running copy; its outcome is read with GetImageSet.
"""

from __future__ import annotations

import uuid
from typing import Any

from reconciler.emulator.copies import outcome, parse_request
from reconciler.emulator.copy_store import DESTINATION_STATUS, SOURCE_STATUS
from reconciler.emulator.knobs import EmulatorConfig
from reconciler.emulator.records import VersionRow, ms
from reconciler.emulator.routes import Call, bool_param, image_set_arn, json_response, require_id
from reconciler.emulator.store import Store
from reconciler.emulator.wire import WireResponse


def copy_image_set(store: Store, config: EmulatorConfig, call: Call) -> WireResponse:
    """Answer one CopyImageSet request."""
    datastore_id = call.datastore_id
    source_id = require_id(call.params["sourceImageSetId"], "sourceImageSetId")
    request = parse_request(call, source_id, force=bool_param(call, "force"),
                            promote=bool_param(call, "promoteToPrimary"))
    new_id = None if request.destination_id else uuid.uuid4().hex
    build = outcome(request, datastore_id, new_id, injected_failure=call.fault == "copy_failed")
    source, destination = store.commit_copy(datastore_id, request, build, new_id=new_id, now=call.now,
                                            lock_until=call.now + config.lock_seconds,
                                            lenient_promotion=config.lenient_promotion,
                                            first_version=config.first_version)
    return json_response({
        "datastoreId": datastore_id,
        "sourceImageSetProperties": _properties(source, SOURCE_STATUS, config.region),
        "destinationImageSetProperties": _properties(destination, DESTINATION_STATUS, config.region),
    })


def _properties(row: VersionRow, status: str, region: str) -> dict[str, Any]:
    """``CopySourceImageSetProperties`` / ``CopyDestinationImageSetProperties`` of a running copy."""
    return {
        "imageSetId": row.image_set_id,
        "latestVersionId": str(row.version),
        "imageSetState": "LOCKED",
        "imageSetWorkflowStatus": status,
        "createdAt": ms(row.created_at),
        "updatedAt": ms(row.updated_at),
        "imageSetArn": image_set_arn(row.datastore_id, row.image_set_id, region),
    }
