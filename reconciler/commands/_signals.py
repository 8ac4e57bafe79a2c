"""Signals at the edge: while a block runs, SIGINT (Ctrl-C) and SIGTERM (a cancelled CI job, a pod being
stopped) ask a ``Cancellation`` to stop, instead of raising KeyboardInterrupt or killing the process.

The handler only records the request (the first stops sending, a second aborts); the executor's main
loop acts on it. Python runs signal handlers in the main thread only, so from any other thread (an
embedding program) the block runs with the process's own handling unchanged.
https://docs.python.org/3/library/signal.html#signals-and-threads
"""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Iterator
from types import FrameType

from reconciler.apply.cancel import Cancellation

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


@contextlib.contextmanager
def stop_on_signals(cancel: Cancellation) -> Iterator[None]:
    """Route SIGINT and SIGTERM to ``cancel.request`` for the duration of the block, then restore."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handle(signum: int, _frame: FrameType | None) -> None:
        cancel.request(signal.Signals(signum).name)

    previous = {sig: signal.signal(sig, handle) for sig in STOP_SIGNALS}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler if handler is not None else signal.SIG_DFL)
