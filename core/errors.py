"""The service's one error family and its one body, `{"detail": ..., "code": "snake_case"}`.

Services raise a ServiceError subclass (its class fixes the HTTP status) with a code from their
app's enum; the API's exception handlers, the middleware and the plain Django error views all
answer with `error_body`.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from ninja import Schema


class ErrorCode(StrEnum):
    """Codes of the HTTP layer itself (each app's domain codes live in its own enum)."""

    BAD_REQUEST = "bad_request"
    INVALID_JSON = "invalid_json"
    UNAUTHORIZED = "unauthorized"
    FORBIDDEN = "forbidden"
    NOT_FOUND = "not_found"
    METHOD_NOT_ALLOWED = "method_not_allowed"
    PAYLOAD_TOO_LARGE = "payload_too_large"
    VALIDATION_ERROR = "validation_error"
    THROTTLED = "throttled"
    SERVICE_UNAVAILABLE = "service_unavailable"
    INTERNAL_ERROR = "internal_error"


_CODE_FOR_STATUS = {
    401: ErrorCode.UNAUTHORIZED,
    403: ErrorCode.FORBIDDEN,
    404: ErrorCode.NOT_FOUND,
    405: ErrorCode.METHOD_NOT_ALLOWED,
    413: ErrorCode.PAYLOAD_TOO_LARGE,
    429: ErrorCode.THROTTLED,
    503: ErrorCode.SERVICE_UNAVAILABLE,
}


def code_for_status(status: int) -> ErrorCode:
    """The code of an error that only has a status (a Django response, ninja's HttpError)."""
    return _CODE_FOR_STATUS.get(status, ErrorCode.BAD_REQUEST)


def error_body(detail: Any, code: str) -> dict[str, Any]:
    return {"detail": detail, "code": str(code)}


class ErrorOut(Schema):
    detail: Any
    code: str


def error_responses(*statuses: int) -> dict[int, Any]:
    """A route's documented error statuses, each answered with ErrorOut (for `response=`)."""
    return dict.fromkeys(statuses, ErrorOut)


class ServiceError(Exception):
    """Base of every domain error; subclasses fix the HTTP status."""

    status_code = 400

    def __init__(self, detail: Any, code: str) -> None:
        super().__init__(detail)
        self.detail = detail
        self.code = code


class InvalidInput(ServiceError):
    status_code = 400


class Forbidden(ServiceError):
    status_code = 403


class NotFound(ServiceError):
    status_code = 404


class Conflict(ServiceError):
    status_code = 409


class Unprocessable(ServiceError):
    status_code = 422
