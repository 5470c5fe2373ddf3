"""One exception per error code of the API (`{"detail": ..., "code": ...}`), grouped by status."""

from __future__ import annotations

from typing import Any

BODY_SHOWN = 200  # characters of an unexpected body shown in the message (`.body` has it all)


class SomaError(Exception):
    """Base of every error this client raises."""


class TransportError(SomaError):
    """The server could not be reached (after the retries)."""


class InvalidArgument(SomaError, ValueError):
    """An argument or a setting this client refuses before sending anything (never retried).

    A ref that is neither a memory id nor a coordinate, a payload that is not JSON, a token,
    tenant or idempotency key that cannot be an HTTP header, a query too long for a URL, a
    malformed base URL or `Retry(attempts=0)`. Also a `ValueError`, for code that catches those.
    """


class UnexpectedAnswer(SomaError):
    """The server's answer is not what this endpoint answers: a 200 whose body is HTML, `{}` or
    a list where an object of the contract was due, a body too deeply nested to read, a body
    that cannot be decoded... Often a proxy or another service at the URL. The request may have
    been carried out."""

    def __init__(self, method: str, path: str, status: int | None, body: str, reason: str = "") -> None:
        shown = body if len(body) <= BODY_SHOWN else body[:BODY_SHOWN] + f"... ({len(body)} characters)"
        status_text = "no status" if status is None else str(status)
        because = f" ({reason})" if reason else ""
        super().__init__(f"unexpected answer to {method} {path}: {status_text}{because}, body {shown!r}")
        self.method = method
        self.path = path
        self.status = status
        self.body = body
        self.reason = reason


class ApiError(SomaError):
    """The server refused the request; nothing was stored."""

    status: int = 0

    def __init__(self, status: int, code: str, detail: Any, headers: dict[str, str] | None = None) -> None:
        super().__init__(f"{status} {code}: {detail}")
        self.status = status
        self.code = code
        self.detail = detail
        self.headers = headers or {}


class BadRequest(ApiError):
    status = 400


class InvalidJson(BadRequest):
    pass


class InvalidCoordinate(BadRequest):
    pass


class InvalidFilter(BadRequest):
    pass


class InvalidCursor(BadRequest):
    pass


class InvalidReference(BadRequest):
    pass


class InvalidTenant(BadRequest):
    pass


class InvalidPayload(BadRequest):
    pass


class InvalidLink(BadRequest):
    """A bad link_type, strength or metadata."""


class Unauthorized(ApiError):
    status = 401


class Forbidden(ApiError):
    status = 403


class TenantForbidden(Forbidden):
    pass


class NotFound(ApiError):
    status = 404


class MemoryNotFound(NotFound):
    pass


class LinkNotFound(NotFound):
    pass


class VersionNotFound(NotFound):
    pass


class Conflict(ApiError):
    status = 409


class CoordinateTaken(Conflict):
    pass


class IdempotencyConflict(Conflict):
    pass


class PayloadTooLarge(ApiError):
    status = 413


class ValidationFailed(ApiError):
    """422: the detail names the field (or the batch item's index)."""

    status = 422


class BatchItemInvalid(ValidationFailed):
    pass


class SelfLink(ValidationFailed):
    pass


class MissingReference(ValidationFailed):
    """Neither `*_coord` nor `*_id` was given for an end of a link or path."""


class AmbiguousReference(ValidationFailed):
    """Both `*_coord` and `*_id` were given for one end."""


class Throttled(ApiError):
    status = 429

    @property
    def retry_after(self) -> float | None:
        try:
            return float(self.headers["retry-after"])
        except (KeyError, ValueError):
            return None


class ServiceUnavailable(ApiError):
    status = 503


BY_STATUS: dict[int, type[ApiError]] = {
    cls.status: cls
    for cls in (
        BadRequest,
        Unauthorized,
        Forbidden,
        NotFound,
        Conflict,
        PayloadTooLarge,
        ValidationFailed,
        Throttled,
        ServiceUnavailable,
    )
}

BY_CODE: dict[str, type[ApiError]] = {
    "invalid_json": InvalidJson,
    "invalid_coordinate": InvalidCoordinate,
    "invalid_filter": InvalidFilter,
    "invalid_cursor": InvalidCursor,
    "invalid_reference": InvalidReference,
    "invalid_tenant": InvalidTenant,
    "invalid_payload": InvalidPayload,
    "invalid_link_type": InvalidLink,
    "invalid_strength": InvalidLink,
    "invalid_metadata": InvalidLink,
    "tenant_forbidden": TenantForbidden,
    "memory_not_found": MemoryNotFound,
    "link_not_found": LinkNotFound,
    "version_not_found": VersionNotFound,
    "coordinate_taken": CoordinateTaken,
    "idempotency_conflict": IdempotencyConflict,
    "batch_item_invalid": BatchItemInvalid,
    "self_link": SelfLink,
    "missing_reference": MissingReference,
    "ambiguous_reference": AmbiguousReference,
}


def error_for(status: int, body: Any, headers: dict[str, str]) -> ApiError:
    """The exception for a refusal: by its code when this client knows it, else by its status."""
    if isinstance(body, dict):
        code = str(body.get("code", "error"))
        detail = body.get("detail")
    else:
        code, detail = "error", body
    cls = BY_CODE.get(code)
    if cls is None or cls.status != status:
        cls = BY_STATUS.get(status, ApiError)
    return cls(status, code, detail, headers)
