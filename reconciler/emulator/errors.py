"""Errors the emulated service answers with: a model error code, its HTTP status and a message.

The service core raises ``ApiError`` anywhere below ``Service.handle``, which turns it into a rest-json
error response (status, ``x-amzn-ErrorType`` header, ``{"message": ...}`` body). Messages name IDs,
versions and document paths, never attribute values (patient data).

These are the service's errors, not the client's: they stand alone (not in ``reconciler.errors``), as
the real service's errors reach a client only as HTTP answers. A command that uses the store directly
(``emulator load``, ``import-dicom``, the demo) turns one into a ``ReconcilerError`` itself.
"""

from __future__ import annotations


class ApiError(Exception):
    """An error response of the emulated HealthImaging API."""

    code_name = "InternalServerException"
    http_status = 500

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    @property
    def code(self) -> str:
        """The model's error code, as the ``x-amzn-ErrorType`` header carries it."""
        return self.code_name

    @property
    def status(self) -> int:
        return self.http_status


class ValidationError(ApiError):
    code_name = "ValidationException"
    http_status = 400


class NotFoundError(ApiError):
    code_name = "ResourceNotFoundException"
    http_status = 404


class ConflictError(ApiError):
    code_name = "ConflictException"
    http_status = 409


class QuotaExceededError(ApiError):
    code_name = "ServiceQuotaExceededException"
    http_status = 402


class ThrottlingError(ApiError):
    code_name = "ThrottlingException"
    http_status = 429


class InternalError(ApiError):
    code_name = "InternalServerException"
    http_status = 500


class UnknownOperationError(ApiError):
    code_name = "UnknownOperationException"
    http_status = 404
