"""The API's one error shape, `{"detail": ..., "code": ...}`, for every failure family."""

from __future__ import annotations

import logging
import math
from typing import TYPE_CHECKING, Any

from django.db import DatabaseError, DataError, InterfaceError, OperationalError
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse

from core.errors import ErrorCode, ServiceError, code_for_status, error_body

if TYPE_CHECKING:
    from ninja import NinjaAPI

logger = logging.getLogger(__name__)


def install_exception_handlers(api: NinjaAPI) -> None:
    from ninja.errors import AuthenticationError, AuthorizationError, HttpError, Throttled, ValidationError

    from core.errors import ServiceError

    def respond(request: HttpRequest, status: int, detail: Any, code: str) -> HttpResponse:
        return api.create_response(request, error_body(detail, code), status=status)

    @api.exception_handler(ServiceError)
    def service_error(request: HttpRequest, exc: ServiceError) -> HttpResponse:
        return respond(request, exc.status_code, exc.detail, exc.code)

    @api.exception_handler(ValidationError)
    def validation_error(request: HttpRequest, exc: ValidationError) -> HttpResponse:
        return respond(request, 422, _clean_validation_errors(exc.errors), ErrorCode.VALIDATION_ERROR)

    @api.exception_handler(AuthenticationError)
    def authentication_error(request: HttpRequest, exc: AuthenticationError) -> HttpResponse:
        response = respond(request, 401, "Missing or invalid bearer token.", ErrorCode.UNAUTHORIZED)
        response["WWW-Authenticate"] = 'Bearer realm="soma"'
        return response

    @api.exception_handler(AuthorizationError)
    def authorization_error(request: HttpRequest, exc: AuthorizationError) -> HttpResponse:
        return respond(request, 403, str(exc) or "Forbidden.", ErrorCode.FORBIDDEN)

    @api.exception_handler(Throttled)
    def throttled(request: HttpRequest, exc: Throttled) -> HttpResponse:
        response = respond(request, 429, "Too many requests.", ErrorCode.THROTTLED)
        if exc.wait is not None:
            response["Retry-After"] = str(max(1, math.ceil(exc.wait)))
        return response

    @api.exception_handler(HttpError)
    def http_error(request: HttpRequest, exc: HttpError) -> HttpResponse:
        code = ErrorCode.INVALID_JSON if exc.status_code == 400 else code_for_status(exc.status_code)
        detail = "Request body is not valid JSON." if exc.status_code == 400 else str(exc)
        return respond(request, exc.status_code, detail, code)

    @api.exception_handler(Http404)
    def not_found(request: HttpRequest, exc: Http404) -> HttpResponse:
        return respond(request, 404, str(exc) or "Not found.", ErrorCode.NOT_FOUND)

    @api.exception_handler(Exception)
    def unexpected(request: HttpRequest, exc: Exception) -> HttpResponse:
        if isinstance(exc, OperationalError | InterfaceError):
            # The SQLSTATE says which (08006 connection lost, 57P01 shut down, 40P01 deadlock...).
            logger.warning(
                "database unavailable: %s (sqlstate %s)",
                exc.__class__.__name__,
                getattr(exc.__cause__, "sqlstate", None),
            )
            return respond(request, 503, "The database is unavailable; retry later.", ErrorCode.SERVICE_UNAVAILABLE)
        if isinstance(exc, DataError):
            # A value PostgreSQL refuses to store or compare (out of range, NUL...) is bad input;
            # the class name only: the message may quote the value.
            logger.warning("database refused a value on %s %s: %s", request.method, request.path, type(exc).__name__)
            return respond(request, 400, "A value in the request cannot be stored.", ErrorCode.BAD_REQUEST)
        if isinstance(exc, DatabaseError):
            logger.exception("database error")
        else:
            logger.exception("unhandled error on %s %s", request.method, request.path)
        return respond(request, 500, "Internal server error.", ErrorCode.INTERNAL_ERROR)


def _clean_validation_errors(errors: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Pydantic's errors may carry the offending input and exception objects: keep them JSON."""
    cleaned: list[dict[str, Any]] = []
    for error in errors:
        item: dict[str, Any] = {key: error[key] for key in ("type", "loc", "msg") if key in error}
        cleaned.append(item)
    return cleaned


def json_404(request: HttpRequest, exception: Exception | None = None) -> JsonResponse:
    return JsonResponse(error_body("Not found.", ErrorCode.NOT_FOUND), status=404)


def json_500(request: HttpRequest) -> JsonResponse:
    return JsonResponse(error_body("Internal server error.", ErrorCode.INTERNAL_ERROR), status=500)


def json_400(request: HttpRequest, exception: Exception | None = None) -> JsonResponse:
    return JsonResponse(error_body("Bad request.", ErrorCode.BAD_REQUEST), status=400)


def json_403(request: HttpRequest, exception: Exception | None = None) -> JsonResponse:
    return JsonResponse(error_body("Forbidden.", ErrorCode.FORBIDDEN), status=403)
