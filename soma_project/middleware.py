from __future__ import annotations

from collections.abc import Callable

from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from django.http import HttpRequest, HttpResponse, JsonResponse

from soma_project.errors import ErrorCode


class BodySizeLimitMiddleware:
    """Refuse bodies over SOMA_MAX_BODY_BYTES with 413 in the API's error shape.

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
        if request.method in {"POST", "PUT", "PATCH", "DELETE"} and not request.path.startswith("/admin/"):
            try:
                request.body  # noqa: B018 - reading enforces DATA_UPLOAD_MAX_MEMORY_SIZE
            except RequestDataTooBig:
                return _too_large(limit)
        return self.get_response(request)


def _too_large(limit: int) -> JsonResponse:
    return _error(413, f"Request body is larger than {limit} bytes.", ErrorCode.PAYLOAD_TOO_LARGE)


def _error(status: int, detail: str, code: ErrorCode) -> JsonResponse:
    return JsonResponse({"detail": detail, "code": code.value}, status=status)
