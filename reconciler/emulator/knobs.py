"""Test knobs of the emulator: lock time, per-operation rate limits, injected faults and service rules.

``--rate OPERATION=TPS[:BURST]`` answers ThrottlingException above the rate (a token bucket per
operation, like the documented HealthImaging quotas). BURST defaults to ``max(1, TPS)``, a lenient
server; ``:1`` makes it strict like the real UpdateImageSetMetadata quota (0.25 TPS, burst 1:
https://docs.aws.amazon.com/healthimaging/latest/devguide/throttling-limits.html), where a request that
comes a moment early is refused. ``--fault OPERATION=KIND:PROBABILITY``
injects ``throttle`` (429), ``500`` (InternalServerException), ``drop`` (the connection closes with no
answer), ``update_failed`` (the update is accepted, then ends UPDATE_FAILED keeping the old content) or
``copy_failed`` (the copy is accepted, then ends COPY_FAILED). OPERATION may be ``*`` for every operation.
``documented_limits`` is every documented throttling quota as a rate table, for ``serve --documented-quotas``.
``--barrier OPERATION=N`` makes N clients collide on purpose: the first N requests of OPERATION wait
for each other inside the server and go on together once the N-th has arrived (later ones pass at
once), so a test of racing clients needs no timing to make their requests meet.
``--hold OPERATION=N`` parks every request of OPERATION after the first N inside the server, unanswered
and not applied, until ``release`` (``serve`` releases on SIGUSR1); each parked request is announced (one
log line), so a test can act once a known number are parked, whatever the scheduling. A server that
stops drops the parked requests (the connection closes with no answer), so they are never applied late.

The rest are the service's documented rules made adjustable, defaults as documented:
``lenient_primary`` lifts the primary-image-set restrictions of UpdateImageSetMetadata (in case AWS
turns out more lenient than its page); three rules the pages leave open are read conservatively
(``reconciler.dicom.primary``), each with its own knob: ``lenient_primary_force`` lets ``force`` reach a
primary image set, ``lenient_series_removal`` lets a whole series be removed from one, and
``lenient_promotion`` lets a copy be promoted into a study whose other primary image sets hold other
Patient-level metadata; ``blob_limit`` is the length limit of each ``DICOMUpdates``
blob (raise it to match a raised quota), ``archive_after`` the idle time after which an image set is
reported in the ``ARCHIVE_INSTANT_ACCESS`` tier, ``region`` the region SigV4 signatures must be
scoped to (HTTP transport).

Two knobs play answers that the model allows and the emulator otherwise never gives: ``omit_is_primary``
leaves ``isPrimary`` out of GetImageSet, ListImageSetVersions and SearchImageSets (the field is optional
in all three shapes of the ``medical-imaging`` model: "Required: No" in
https://docs.aws.amazon.com/healthimaging/latest/APIReference/API_ImageSetsMetadataSummary.html), and
``first_version`` is the version a new image set made by CopyImageSet starts at (default 1): the
destination's version is only given by the answer (``destinationImageSetProperties.latestVersionId``,
https://docs.aws.amazon.com/healthimaging/latest/APIReference/API_CopyImageSet.html), and the
copy-image-set page says a copy makes "a new image set, or a new version of the destinationImageSet"
without naming a first version (https://docs.aws.amazon.com/healthimaging/latest/devguide/copy-image-set.html).
"""

from __future__ import annotations

import random
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

from reconciler.emulator.wire import DropConnection
from reconciler.errors import UsageError
from reconciler.ratelimit import DEFAULT_QUOTAS, TokenBucket

FAULT_KINDS = ("throttle", "500", "drop", "update_failed", "copy_failed")
# DICOMUpdates: "Length Constraints: Minimum length of 1. Maximum length of 10000." for each blob
# (https://docs.aws.amazon.com/healthimaging/latest/APIReference/API_DICOMUpdates.html); the service
# quota behind it is adjustable (https://docs.aws.amazon.com/general/latest/gr/healthimaging.html).
BLOB_LIMIT = 10_000
# "HealthImaging automatically moves image sets that have not been accessed for 30 consecutive days to
# the Archive Instant Access tier" (https://docs.aws.amazon.com/healthimaging/latest/devguide/cost-optimization.html).
ARCHIVE_AFTER_SECONDS = 30 * 24 * 3600.0
Fault = tuple[str, float]  # (kind, probability)


@dataclass(frozen=True)
class EmulatorConfig:
    """Everything configurable about one emulator instance (both transports)."""

    lock_seconds: float = 0.0
    rates: dict[str, float] = field(default_factory=dict)
    bursts: dict[str, float] = field(default_factory=dict)  # per key of ``rates``; default max(1, rate)
    faults: dict[str, list[Fault]] = field(default_factory=dict)
    seed: int | None = None
    access_key: str = "test"
    secret_key: str = "test"
    lenient_primary: bool = False
    lenient_primary_force: bool = False
    lenient_series_removal: bool = False
    lenient_promotion: bool = False
    blob_limit: int = BLOB_LIMIT
    archive_after: float = ARCHIVE_AFTER_SECONDS
    region: str = "us-east-1"
    barriers: dict[str, int] = field(default_factory=dict)  # operation -> N (see ``Knobs.meet``)
    holds: dict[str, int] = field(default_factory=dict)  # operation -> N passed before parking (``Knobs.hold``)
    omit_is_primary: bool = False  # answers without ``isPrimary`` (optional in the model)
    first_version: int = 1  # the version a new image set made by CopyImageSet starts at


class Knobs:
    """The live state behind an EmulatorConfig: buckets per operation and a seeded fault dice."""

    def __init__(self, config: EmulatorConfig, clock: Callable[[], float] = time.monotonic) -> None:
        self.config = config
        self._clock = clock
        self._buckets: dict[str, TokenBucket] = {}
        self._lock = threading.Lock()
        self._random = random.Random(config.seed)
        self._throttled: Counter[str] = Counter()
        self._arrived: Counter[str] = Counter()
        self._met = threading.Condition(self._lock)
        self._seen: Counter[str] = Counter()  # requests of each held operation so far
        self._parked = 0
        self._released = False
        self._dropped = False
        self.announce: Callable[[str], None] | None = None  # told of each parked request (serve: its log)

    def meet(self, operation: str) -> None:
        """Block the first N requests of OPERATION (its ``barriers`` entry) until N have arrived."""
        wanted = self.config.barriers.get(operation)
        if wanted is None:
            return
        with self._met:
            self._arrived[operation] += 1
            if self._arrived[operation] > wanted:
                return
            self._met.notify_all()
            self._met.wait_for(lambda: self._arrived[operation] >= wanted)

    def hold(self, operation: str) -> None:
        """Park a request of OPERATION after the first N (its ``holds`` entry) until ``release``; raises
        DropConnection when the parked request is dropped instead (``drop_held``: the server stops)."""
        after = self.config.holds.get(operation)
        if after is None:
            return
        with self._met:
            self._seen[operation] += 1
            if self._seen[operation] <= after or self._released:
                return
            if self._dropped:
                raise DropConnection(operation)
            self._parked += 1
            nth, parked = self._seen[operation], self._parked
        if self.announce is not None:
            self.announce(f"hold: {operation} request {nth} parked ({parked} parked)")
        with self._met:
            self._met.wait_for(lambda: self._released or self._dropped)
            self._parked -= 1
            if self._dropped:
                raise DropConnection(operation)

    def release(self) -> None:
        """Let the parked requests go on, and every later one pass at once."""
        with self._met:
            self._released = True
            self._met.notify_all()

    def drop_held(self) -> None:
        """End the parked requests unanswered and unapplied (and any later one that would park)."""
        with self._met:
            self._dropped = True
            self._met.notify_all()

    def admit(self, operation: str) -> bool:
        """True when OPERATION is within its rate (its own, else ``*``, else unlimited)."""
        key = operation if operation in self.config.rates else "*"
        rate = self.config.rates.get(key)
        if rate is None:
            return True
        # With a "*" rate every operation still gets its own bucket, as the service's quotas are per action.
        with self._lock:
            bucket = self._buckets.get(operation)
            if bucket is None:
                burst = self.config.bursts.get(key, max(1.0, rate))
                bucket = self._buckets[operation] = TokenBucket(rate, burst, now=self._clock())
        return bucket.take(self._clock())

    def count_throttle(self, operation: str) -> None:
        """Record one ThrottlingException answered for OPERATION (over its rate, or an injected fault)."""
        with self._lock:
            self._throttled[operation] += 1

    def throttles(self) -> dict[str, int]:
        """ThrottlingExceptions answered so far, per operation."""
        with self._lock:
            return dict(self._throttled)

    def fault(self, operation: str) -> str | None:
        """The fault KIND to inject for this call of OPERATION, or None."""
        faults = self.config.faults.get(operation, []) + self.config.faults.get("*", [])
        for kind, probability in faults:
            with self._lock:
                roll = self._random.random()
            if roll < probability:
                return kind
        return None


def documented_limits(overrides: dict[str, float], override_bursts: dict[str, float]) -> tuple[
    dict[str, float], dict[str, float]
]:
    """(rates, bursts) of every documented HealthImaging throttling quota, each OVERRIDES entry (and its
    burst from OVERRIDE_BURSTS, else the default) in place of the documented one. UpdateImageSetMetadata,
    CopyImageSet and DeleteImageSet are 0.25 TPS with a burst of 1
    (https://docs.aws.amazon.com/healthimaging/latest/devguide/throttling-limits.html)."""
    rates = {op: rate for op, (rate, _burst) in DEFAULT_QUOTAS.items()} | overrides
    bursts = {op: burst for op, (_rate, burst) in DEFAULT_QUOTAS.items() if op not in overrides}
    return rates, bursts | override_bursts


def parse_barrier_options(items: list[str]) -> dict[str, int]:
    """Parse repeated ``OPERATION=N`` (N at least 2: the number of requests that wait for each other)."""
    return _parse_counts("--barrier", items, least=2, example=2)  # a typo would make no barrier, no collision


def parse_hold_options(items: list[str]) -> dict[str, int]:
    """Parse repeated ``OPERATION=N`` (N at least 0: the number of requests that pass before the others park)."""
    return _parse_counts("--hold", items, least=0, example=1)  # a typo would quietly hold nothing


def _parse_counts(flag: str, items: list[str], *, least: int, example: int) -> dict[str, int]:
    """Parse repeated ``OPERATION=N`` of FLAG: N a whole number of at least LEAST, OPERATION a known one."""
    counts: dict[str, int] = {}
    for item in items:
        op, sep, count = item.partition("=")
        if not sep or not op.strip() or not count.strip().isdigit() or int(count) < least:
            raise UsageError(f"{flag} {item!r}: expected OPERATION=N with N of {least} or more, "
                             f"e.g. UpdateImageSetMetadata={example}")
        if op.strip() not in DEFAULT_QUOTAS:
            raise UsageError(f"{flag} {item!r}: unknown operation", hint="one of " + ", ".join(sorted(DEFAULT_QUOTAS)))
        counts[op.strip()] = int(count)
    return counts


def parse_fault_options(items: list[str]) -> dict[str, list[Fault]]:
    """Parse repeated ``OPERATION=KIND:PROBABILITY`` (OPERATION may be ``*``; PROBABILITY in [0, 1])."""
    faults: dict[str, list[Fault]] = {}
    for item in items:
        op, sep, rest = item.partition("=")
        kind, sep2, prob = rest.rpartition(":")
        if not sep or not sep2 or not op.strip():
            raise UsageError(f"--fault {item!r}: expected OPERATION=KIND:PROBABILITY, e.g. '*=500:0.1'")
        if kind not in FAULT_KINDS:
            raise UsageError(f"--fault {item!r}: KIND must be one of {', '.join(FAULT_KINDS)}")
        try:
            probability = float(prob)
        except ValueError:
            raise UsageError(f"--fault {item!r}: PROBABILITY must be a number") from None
        if not 0.0 <= probability <= 1.0:
            raise UsageError(f"--fault {item!r}: PROBABILITY must be between 0 and 1")
        faults.setdefault(op.strip(), []).append((kind, probability))
    return faults
