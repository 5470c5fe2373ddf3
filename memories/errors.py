"""Errors the memory services raise; the API turns each into its status and code."""

from __future__ import annotations

from enum import StrEnum
from typing import Any


class MemoryErrorCode(StrEnum):
    MEMORY_NOT_FOUND = "memory_not_found"
    INVALID_COORDINATE = "invalid_coordinate"
    INVALID_FILTER = "invalid_filter"
    INVALID_CURSOR = "invalid_cursor"
    INVALID_REFERENCE = "invalid_reference"
    INVALID_PAYLOAD = "invalid_payload"
    BATCH_ITEM_INVALID = "batch_item_invalid"
    COORDINATE_CONFLICT = "coordinate_conflict"
    TENANT_FORBIDDEN = "tenant_forbidden"
    COORDINATE_TAKEN = "coordinate_taken"
    VERSION_NOT_FOUND = "version_not_found"
    IDEMPOTENCY_CONFLICT = "idempotency_conflict"
    INVALID_IDEMPOTENCY_KEY = "invalid_idempotency_key"
    INVALID_EXPIRY = "invalid_expiry"
    INVALID_FORGET_POLICY = "invalid_forget_policy"
    INVALID_RANKING = "invalid_ranking"


class ServiceError(Exception):
    """Base of every domain error; subclasses fix the HTTP status."""

    status_code = 400

    def __init__(self, detail: Any, code: str) -> None:
        super().__init__(detail)
        self.detail = detail
        self.code = code


class InvalidInput(ServiceError):
    status_code = 400


class NotFound(ServiceError):
    status_code = 404


class Conflict(ServiceError):
    status_code = 409


class Unprocessable(ServiceError):
    status_code = 422


class Forbidden(ServiceError):
    status_code = 403
