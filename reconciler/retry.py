"""Retry backoff: exponential with full jitter, bounded in attempts and in total time."""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class RetryPolicy:
    """Exponential backoff with full jitter, bounded in attempts and in total time.

    Full jitter (sleep uniformly in [0, min(cap, base * 2**n)]) spreads the retries of many workers,
    as recommended in https://aws.amazon.com/blogs/architecture/exponential-backoff-and-jitter/.
    """

    max_attempts: int = 8
    base: float = 0.25
    cap: float = 20.0
    max_total: float = 120.0  # seconds from the first attempt after which no retry is started

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            raise ValueError("max_attempts must be >= 1")

    def backoff(self, retry: int, rand: Callable[[], float] = random.random) -> float:
        """The sleep before retry number RETRY (1 for the first retry)."""
        ceiling = min(self.cap, self.base * 2.0 ** (retry - 1))
        return rand() * ceiling

    def next_delay(
        self, attempts_made: int, elapsed: float, rand: Callable[[], float] = random.random
    ) -> float | None:
        """How long to sleep before another attempt, or None when the budget is spent."""
        if attempts_made >= self.max_attempts:
            return None
        delay = self.backoff(attempts_made, rand)
        if elapsed + delay > self.max_total:
            return None
        return delay
