"""Errors the emulated service answers with: a model error code, its HTTP status and a message.

The service core raises ``ApiError`` anywhere below ``Service.handle``, which turns it into a rest-json
error response (status, ``x-amzn-ErrorType`` header, ``{"message": ...}`` body). Messages name IDs,
versions and document paths, never attribute values (patient data).
"""

from __future__ import annotations

from reconciler.errors import ServiceError


class ApiError(ServiceError):
    """An error response of the emulated HealthImaging API."""

    code_name = "InternalServerException"
    http_status = 500

    def __init__(self, message: str) -> None:
        super().__init__(message, code=self.code_name, status=self.http_status)


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
