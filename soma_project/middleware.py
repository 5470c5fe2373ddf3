from __future__ import annotations

from collections.abc import Callable

from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from django.http import HttpRequest, HttpResponse, JsonResponse

from core.errors import ErrorCode, code_for_status, error_body
from memories.errors import MemoryErrorCode


class BodySizeLimitMiddleware:
    """Refuse bodies over SOMA_MAX_BODY_BYTES with 413 in the API's error shape (and a query
    string holding NUL with 400: what no view could use, refused before any is called).

    Declared lengths are refused before anything is read; chunked bodies are refused by
    Django's DATA_UPLOAD_MAX_MEMORY_SIZE check when first read.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        limit = settings.SOMA_MAX_BODY_BYTES
        try:
            declared = int(request.META.get("CONTENT_LENGTH") or 0)
        except ValueError:
            return _error(400, "Content-Length is not a number.", ErrorCode.BAD_REQUEST)
        if declared > limit:
            return _too_large(limit)
        api = not request.path.startswith("/admin/")  # the console answers its own pages
        # The body's strings may hold no NUL (core.jsonrules): neither may the query string's,
        # so `?query=a%00b` is refused alike instead of reaching PostgreSQL, which cannot store,
        # compare or search such text. Percent-escaped or not, it is the same character here.
        if api and any("\x00" in key + "".join(values) for key, values in request.GET.lists()):
            return _error(400, "Query parameters may not contain NUL characters.", ErrorCode.BAD_REQUEST)
        if "%2f" in _raw_path(request).lower():
            # The server decodes %2F before routing, so "/memories/<id>%2Fhistory" reached the
            # history route: a reference is one path segment, never a path.
            return _error(400, "An encoded '/' (%2F) in a path is no reference.", MemoryErrorCode.INVALID_REFERENCE)
        if api and request.method in {"POST", "PUT", "PATCH", "DELETE"}:
            try:
                request.body  # noqa: B018 - reading enforces DATA_UPLOAD_MAX_MEMORY_SIZE
            except RequestDataTooBig:
                return _too_large(limit)
        return self.get_response(request)


class JsonErrorMiddleware:
    """Error responses outside the admin in the API's shape, e.g. ninja's plain-text 405."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        if (
            response.status_code >= 400
            and not response.get("Content-Type", "").startswith("application/json")
            and not request.path.startswith("/admin/")
        ):
            detail = "Method not allowed." if response.status_code == 405 else (response.reason_phrase or "Error.")
            replacement = _error(response.status_code, detail, code_for_status(response.status_code))
            for header in ("Allow", "Retry-After", "WWW-Authenticate"):
                if header in response:
                    replacement[header] = response[header]
            return replacement
        return response


def _raw_path(request: HttpRequest) -> str:
    """The path as the client sent it, before percent-decoding: waitress's REQUEST_URI,
    gunicorn's RAW_URI, or the ASGI scope's raw_path (uvicorn)."""
    raw = request.META.get("REQUEST_URI") or request.META.get("RAW_URI")
    if raw is None:
        scope = getattr(request, "scope", None) or {}
        raw = (scope.get("raw_path") or b"").decode("latin-1")
    return raw.split("?", 1)[0]


def _too_large(limit: int) -> JsonResponse:
    return _error(413, f"Request body is larger than {limit} bytes.", ErrorCode.PAYLOAD_TOO_LARGE)


def _error(status: int, detail: str, code: str) -> JsonResponse:
    return JsonResponse(error_body(detail, code), status=status)


# Every method a route here answers, or that HTTP requires of any server (HEAD, OPTIONS).
KNOWN_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})


class KnownMethodMiddleware:
    """Refuse a method no route serves (an invented "ZQ1", TRACE, CONNECT) with 405 before any
    other middleware: django-prometheus labels its per-view series with the raw method, so every
    invented method an anonymous client sent added ~19 series to /metrics, without bound."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if request.method not in KNOWN_METHODS:
            response = _error(405, "Method not allowed.", ErrorCode.METHOD_NOT_ALLOWED)
            response["Allow"] = ", ".join(sorted(KNOWN_METHODS - {"HEAD", "OPTIONS"}))
            return response
        return self.get_response(request)
