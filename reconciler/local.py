"""The client a command gets for its backend options: for ``--local DIR``, with the in-process emulator
attached as its transport.

This is the one place that knows both the client and the emulator, so that neither knows the other
(an import-linter contract keeps it so). The emulator is imported only for ``--local``: users of real
AWS or of an endpoint never load it.
"""

from __future__ import annotations

import time
from typing import Any

from reconciler.client.backends import BackendOptions
from reconciler.client.healthimaging import HealthImaging
from reconciler.client.session import connect as connect_client
from reconciler.errors import ReconcilerError, UsageError
from reconciler.ratelimit import Clock, Sleep


def connect(options: BackendOptions, *, clock: Clock = time.monotonic, sleep: Sleep = time.sleep) -> HealthImaging:
    """The HealthImaging client for OPTIONS (validated); a local store is opened here. CLOCK and SLEEP are
    what the client's pacing and retry backoff read the time by and wait with."""
    if not options.local_dir:
        return connect_client(options, clock=clock, sleep=sleep)
    store_dir = options.local_dir

    def attach_emulator(client: Any) -> None:
        from reconciler.emulator.inprocess import attach

        try:
            attach(client, store_dir)
        except ReconcilerError:
            raise
        except Exception as exc:  # an unusable directory (permissions, not a store, ...)
            raise UsageError(
                f"--local {store_dir}: cannot open the emulator store ({type(exc).__name__})"
            ) from exc

    return connect_client(options, transport=attach_emulator, clock=clock, sleep=sleep)
