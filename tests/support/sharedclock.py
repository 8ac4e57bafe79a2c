"""A fake clock that a test's client and in-thread server share, so that a rate limit sees only the time a
pacer chose to wait, however slowly the machine runs."""

from __future__ import annotations

import threading


class SharedClock:
    """A monotonic clock that moves only when someone sleeps on it, by exactly the seconds slept; nothing
    ever waits for real. Thread-safe: an apply's worker threads read and sleep on it at once.

    Pass the same clock as the emulator's ``rate_clock`` and as the client's pacing ``clock``/``sleep``:
    the server's token buckets then refill by the client's waits alone. Sleeps of several threads add up
    (the clock runs ahead of any one of them), which only ever gives the server more time, never less."""

    def __init__(self, start: float = 0.0) -> None:
        self._now = start
        self._lock = threading.Lock()

    def __call__(self) -> float:
        with self._lock:
            return self._now

    def sleep(self, seconds: float) -> None:
        if seconds > 0:
            with self._lock:
                self._now += seconds
