"""One HealthImaging request, the way every request is sent: paced, retried, counted and translated.

Why our own retries rather than botocore's: each retry must also take a limiter token (so retries
respect the quota the limiter paces), the clock and sleep must be injectable for tests, and a retried
UpdateImageSetMetadata needs care (``Trace.ambiguous``, read by ``HealthImaging._update``). botocore's
retry handler is turned off (``total_max_attempts=1``) so attempts are not multiplied.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from botocore.exceptions import BotoCoreError, ClientError

from reconciler.client import errors as errs
from reconciler.client.values import CallStats
from reconciler.errors import ReconcilerError, ServiceError
from reconciler.ratelimit import Clock, RateLimiter, RetryPolicy, Sleep

T = TypeVar("T")
log = logging.getLogger(__name__)  # IDs, operations and error codes only: never values

# an endpoint that refuses connections (or never answers the handshake) rarely heals within seconds:
# give up on it sooner than on throttling or dropped connections
UNREACHABLE_ATTEMPTS = 3
PAGE_SIZE = 50  # the model's maximum maxResults for SearchImageSets and ListImageSetVersions


@dataclass
class Trace:
    """What happened during the attempts of one call (read by the update guard logic)."""

    attempts: int = 0
    ambiguous: bool = False  # an attempt may have reached the service without us seeing the answer


class Caller:
    """Sends requests through the per-operation limiter and the retry loop. Thread-safe."""

    def __init__(
        self,
        limiter: RateLimiter,
        retry: RetryPolicy,
        endpoint: str,
        *,
        clock: Clock = time.monotonic,
        sleep: Sleep = time.sleep,
        rand: Callable[[], float] = random.random,
    ) -> None:
        self.limiter = limiter
        self.retry = retry
        self.endpoint = endpoint
        self.stats = CallStats()
        self._clock = clock
        self._sleep = sleep
        self._rand = rand

    def call(
        self, op: str, context: str, fn: Callable[[], T], trace: Trace | None = None, sent: Sequence[str] = (),
        cancel: threading.Event | None = None, resend_ambiguous: bool = True,
    ) -> T:
        """Run FN (one request of OP) through the limiter, retrying what is worth retrying.

        SENT are the patient values in the request, scrubbed from any service message we pass on. Once
        CANCEL is set the first attempt is not sent (``Cancelled``); retries of a sent one go on. Without
        RESEND_AMBIGUOUS a request that may have reached the service is not sent again (a write that is
        not idempotent); throttled and unsent ones still are.
        """
        trace = trace or Trace()
        spent = 0.0  # time in attempts and backoff; waiting for a limiter token does not count
        while True:
            # ended below: a strict operation is spaced from the answer; a retry of a sent request is not cancelled
            permit = self.limiter.begin(op, cancel if trace.attempts == 0 else None)
            self.stats.add(op, retry=trace.attempts > 0)
            trace.attempts += 1
            began = self._clock()
            try:
                return fn()
            except ReconcilerError:
                raise
            except (ClientError, BotoCoreError) as exc:
                spent += self._clock() - began
                kind = errs.retry_kind(exc)
                permit.failed(throttled=kind == errs.THROTTLE)  # before the backoff: it slows the pacer
                if kind == errs.THROTTLE:
                    self.stats.throttle(op)
                if kind == errs.AMBIGUOUS:
                    trace.ambiguous = True
                delay = None
                refused = kind == errs.UNSENT and trace.attempts >= UNREACHABLE_ATTEMPTS
                refused = refused or (kind == errs.AMBIGUOUS and not resend_ambiguous)
                if kind is not None and not refused:
                    delay = self.retry.next_delay(trace.attempts, spent, self._rand)
                if delay is None:
                    raise errs.translate(exc, op, context, self.endpoint, trace.attempts, sent) from exc
                log.debug("%s for %s: %s (%s), retry %d in %.2f s", op, context, errs.code_of(exc), kind,
                          trace.attempts, delay)
                self._sleep(delay)
                spent += delay
            except Exception as exc:  # a bug below us (e.g. in a transport hook) must not leak
                raise ServiceError(
                    f"{op} failed for {context}: unexpected {type(exc).__name__}", code=type(exc).__name__
                ) from exc
            finally:
                permit.answered()  # no-op when failed() came first

    def pages(
        self,
        op: str,
        ctx: str,
        method: Callable[..., dict[str, Any]],
        params: dict[str, Any],
        sent: Sequence[str] = (),
    ) -> Iterator[dict[str, Any]]:
        """Every page of a paginated operation, each page a paced, retried request."""
        token: str | None = None
        while True:
            page_params = dict(params, maxResults=PAGE_SIZE)
            if token:
                page_params["nextToken"] = token
            page = self.call(op, ctx, lambda p=page_params: method(**p), sent=sent)  # type: ignore[misc]
            yield page
            token = page.get("nextToken")
            if not token:
                return
