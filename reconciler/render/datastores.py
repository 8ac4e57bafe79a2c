"""The datastores of an account and region (``reconciler ls`` without ``--datastore-id``), as a table or as
JSON: IDs, names, statuses and creation times, which hold no patient data."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from reconciler.api import DatastoreInfo
from reconciler.render.common import plural
from reconciler.render.history import iso

_HEADERS = ("datastore ID", "name", "status", "created")


def datastores_lines(datastores: Sequence[DatastoreInfo]) -> list[str]:
    """A heading, one aligned line per datastore, and how to list one of them."""
    if not datastores:
        return ["No datastores (ListDatastores found none in this account and region)."]
    table = [list(_HEADERS)] + [[d.datastore_id, d.name or "-", d.status or "-", iso(d.created_at) or "-"]
                                for d in datastores]
    widths = [max(len(row[i]) for row in table) for i in range(len(_HEADERS))]
    out = [f"{plural(len(datastores), 'datastore')}", ""]
    out += ["  " + "  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() for row in table]
    out += ["", f"List a datastore's image sets with `reconciler ls --datastore-id {datastores[0].datastore_id}`."]
    return out


def datastores_json(datastores: Sequence[DatastoreInfo]) -> dict[str, Any]:
    return {"count": len(datastores),
            "datastores": [{"datastoreId": d.datastore_id, "datastoreName": d.name, "datastoreStatus": d.status,
                            "datastoreArn": d.arn, "createdAt": iso(d.created_at)} for d in datastores]}
