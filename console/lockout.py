"""The page django-axes answers a locked-out login with (settings.AXES_LOCKOUT_CALLABLE).

429 with Retry-After, because the refusal is about the rate of attempts, not about who asks. The
page is the same whether the username exists or not, and says nothing of it: axes counts failures
for any username typed, and a locked login is refused before any password is checked.
"""

from __future__ import annotations

import math
from typing import Any

from axes.models import AccessAttempt
from django.conf import settings
from django.contrib import admin
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.utils import timezone

from console.selectors import login_lockout_ends


def login_username(request: HttpRequest, credentials: dict[str, Any] | None = None) -> str | None:
    """The username axes records for a login (settings.AXES_USERNAME_CALLABLE): what was typed, as
    axes reads it, cut to what its table holds. The admin's form checks no length before it
    authenticates, so a 256-character username made axes' INSERT fail: a 500 for that login."""
    field = getattr(settings, "AXES_USERNAME_FORM_FIELD", "username")  # axes.conf sets its default
    username = credentials.get(field) if credentials else getattr(request, "data", request.POST).get(field)
    return username[:_USERNAME_LENGTH] if isinstance(username, str) else username


_USERNAME_LENGTH = AccessAttempt._meta.get_field("username").max_length


def lockout_response(
    request: HttpRequest, original_response: HttpResponse | None = None, credentials: dict[str, Any] | None = None
) -> HttpResponse:
    # axes' async middleware passes the credentials where the original response goes; the handler
    # also leaves them on the request.
    if credentials is None:
        credentials = getattr(request, "axes_credentials", None)
    now = timezone.now()
    ends = login_lockout_ends(request=request, credentials=credentials) or now + settings.AXES_COOLOFF_TIME
    seconds = max(1, math.ceil((ends - now).total_seconds()))
    context = {
        **admin.site.each_context(request),
        "title": "Too many failed logins",
        "failure_limit": settings.AXES_FAILURE_LIMIT,
        "lockout_ends": ends,
        "wait": _wait_text(seconds),
    }
    response = TemplateResponse(request, "admin/lockout.html", context, status=settings.AXES_HTTP_RESPONSE_CODE)
    response["Retry-After"] = str(seconds)
    response["Cache-Control"] = "no-store"
    return response.render()


def _wait_text(seconds: int) -> str:
    if seconds < 90:
        return f"{seconds} second{'s' if seconds != 1 else ''}"
    minutes = math.ceil(seconds / 60)
    return f"{minutes} minutes"
