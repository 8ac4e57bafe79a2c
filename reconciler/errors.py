"""The reconciler's error hierarchy.

Everything below the CLI raises one of these; the CLI maps them to exit codes and one-line messages.
Messages name files, lines, paths and IDs, never attribute values (they are patient data).
botocore exceptions are translated into these at the boundary (``reconciler.client``) and never escape it.
"""

from __future__ import annotations


class ReconcilerError(Exception):
    """Base class. ``hint`` is an optional sentence telling the user what to do next."""

    exit_code = 1

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return self.message if not self.hint else f"{self.message} ({self.hint})"


class UsageError(ReconcilerError):
    """The command line is wrong in a way argparse could not tell."""


class SpecError(ReconcilerError):
    """The specs are invalid: raised (after their findings are shown) before anything is read."""


class PlanFileError(ReconcilerError):
    """A saved plan is unreadable, of an unknown format, or fails its digest check."""


class StorageNotFound(PlanFileError):
    """A saved plan or drift state that does not exist (no such file, no such S3 object)."""


class ServiceError(ReconcilerError):
    """HealthImaging (or the emulator) answered with an error we could not recover from."""

    def __init__(self, message: str, *, code: str = "", status: int = 0, hint: str | None = None) -> None:
        super().__init__(message, hint=hint)
        self.code = code
        self.status = status


class NotFound(ServiceError):
    """A datastore, image set or version does not exist."""


class Throttled(ServiceError):
    """Throttling that outlasted the retry budget."""


class EndpointError(ServiceError):
    """The endpoint could not be reached (DNS, connection refused, timeouts)."""


class CredentialsError(ServiceError):
    """No usable credentials, or they were refused."""


class StaleVersion(ServiceError):
    """The image set changed since it was planned (ConflictException on a version guard)."""

    exit_code = 3

    def __init__(
        self,
        message: str,
        *,
        planned_version: str | None = None,
        current_version: str | None = None,
        hint: str | None = None,
    ) -> None:
        super().__init__(message, code="ConflictException", status=409, hint=hint)
        self.planned_version = planned_version
        self.current_version = current_version


class OutcomeUnknown(ServiceError):
    """A write that is not safe to send twice failed after it may have reached the service (the connection
    dropped, a timeout, a 5xx): whether it happened must be read from the live state before resending."""


class Cancelled(ReconcilerError):
    """The run was asked to stop (a signal) before this request was sent: nothing was sent."""
