"""The documented HealthImaging throttling quotas, and the ``OPERATION=TPS[:BURST]`` options that override
them (the client's ``--rate`` and the emulator's take the same form).

https://docs.aws.amazon.com/healthimaging/latest/devguide/throttling-limits.html
"""

from __future__ import annotations

import math
from collections.abc import Mapping

from reconciler.errors import UsageError

# operation -> (transactions per second, burst)
DEFAULT_QUOTAS: dict[str, tuple[float, float]] = {
    "GetImageSetMetadata": (50.0, 100.0),
    "GetImageSet": (25.0, 50.0),
    "SearchImageSets": (25.0, 50.0),
    "ListImageSetVersions": (25.0, 50.0),
    "UpdateImageSetMetadata": (0.25, 1.0),
    "CopyImageSet": (0.25, 1.0),
    "DeleteImageSet": (0.25, 1.0),
    "GetImageFrame": (1000.0, 2000.0),
    "GetDatastore": (10.0, 20.0),
    "ListDatastores": (5.0, 10.0),
    "CreateDatastore": (0.085, 1.0),
    "DeleteDatastore": (0.085, 1.0),
    "StartDICOMImportJob": (1.0, 2.0),
    "GetDICOMImportJob": (25.0, 50.0),
    "ListDICOMImportJobs": (10.0, 20.0),
    "TagResource": (10.0, 20.0),
    "UntagResource": (10.0, 20.0),
    "ListTagsForResource": (10.0, 20.0),
}


Limit = tuple[float, float | None]  # (transactions per second, burst or None for the default)


def parse_limits(items: list[str]) -> dict[str, Limit]:
    """Parse repeated ``OPERATION=TPS[:BURST]`` options (OPERATION may be ``*``): the client's ``--rate``
    and the emulator's take the same form. BURST is how many requests may go at once (at least 1)."""
    limits: dict[str, Limit] = {}
    for item in items:
        op, sep, value = item.partition("=")
        if not sep or not op.strip():
            raise UsageError(f"--rate {item!r}: expected OPERATION=TPS[:BURST], e.g. UpdateImageSetMetadata=0.25:1")
        tps_text, colon, burst_text = value.partition(":")
        tps = _number(item, tps_text, "TPS")
        if not tps > 0:
            raise UsageError(f"--rate {item!r}: TPS must be greater than 0")
        burst = _number(item, burst_text, "BURST") if colon else None
        if burst is not None and not burst >= 1:
            raise UsageError(f"--rate {item!r}: BURST must be at least 1")
        limits[op.strip()] = (tps, burst)
    return limits


def _number(item: str, text: str, what: str) -> float:
    try:
        number = float(text)
    except ValueError:
        raise UsageError(f"--rate {item!r}: {what} must be a number") from None
    if not math.isfinite(number):
        raise UsageError(f"--rate {item!r}: {what} must be a finite number")
    return number


def parse_rates(items: list[str]) -> dict[str, float]:
    """The TPS of each ``OPERATION=TPS[:BURST]`` option (see ``parse_limits``)."""
    return {op: tps for op, (tps, _burst) in parse_limits(items).items()}


def rate_of(op: str, rates: Mapping[str, float] | None = None) -> float | None:
    """The configured requests per second of OP under RATES overrides (OP itself, else ``*``), else its
    documented quota; None when OP is not limited. What the limiter is built with, read without one."""
    overrides = rates or {}
    if op in overrides:
        return overrides[op]
    if "*" in overrides:
        return overrides["*"]
    quota = DEFAULT_QUOTAS.get(op)
    return quota[0] if quota else None


def parse_bursts(items: list[str]) -> dict[str, float]:
    """The BURST of each ``OPERATION=TPS:BURST`` option that gives one."""
    return {op: burst for op, (_tps, burst) in parse_limits(items).items() if burst is not None}
