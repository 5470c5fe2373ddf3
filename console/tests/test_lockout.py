"""When a login lockout ends (console.selectors.login_lockout_ends) and the page that says so."""

from __future__ import annotations

from datetime import timedelta

import pytest
from axes.handlers.proxy import AxesProxyHandler
from axes.models import AccessAttempt
from django.contrib.auth.models import AnonymousUser
from django.test import RequestFactory, override_settings
from django.utils import timezone

from console.lockout import lockout_response
from console.selectors import login_lockout_ends

pytestmark = pytest.mark.django_db

WINDOW = timedelta(minutes=15)


def _request(address: str = "10.0.0.1"):
    request = RequestFactory().post("/admin/login/", REMOTE_ADDR=address)
    AxesProxyHandler.update_request(request)
    return request


def _failures(username: str, address: str, count: int, minutes_ago: float) -> None:
    attempt = AccessAttempt.objects.create(
        username=username,
        ip_address=address,
        user_agent=f"agent-{minutes_ago}",
        failures_since_start=count,
        get_data="",
        post_data="",
        http_accept="*/*",
        path_info="/admin/login/",
    )
    # attempt_time is auto_now_add: set the past afterwards.
    AccessAttempt.objects.filter(pk=attempt.pk).update(attempt_time=timezone.now() - timedelta(minutes=minutes_ago))


@override_settings(AXES_FAILURE_LIMIT=5, AXES_COOLOFF_TIME=WINDOW)
def test_the_lock_ends_when_the_row_that_reached_the_limit_expires():
    # Given 2 + 2 + 1 failures for one username, 10, 5 and 1 minutes ago, from three addresses
    _failures("keeper", "10.0.0.2", 2, 10)
    _failures("keeper", "10.0.0.3", 2, 5)
    _failures("keeper", "10.0.0.4", 1, 1)
    now = timezone.now()
    # When a login for that username asks / Then the lock ends 15 minutes after the oldest of the
    # rows that reach 5 (the one of 10 minutes ago), not after the newest
    ends = login_lockout_ends(request=_request(), credentials={"username": "keeper"})
    assert ends is not None
    assert abs((ends - (now + WINDOW - timedelta(minutes=10))).total_seconds()) < 2


@override_settings(AXES_FAILURE_LIMIT=5, AXES_COOLOFF_TIME=WINDOW)
def test_the_later_of_the_username_and_the_address_lock_counts():
    # Given the username locked until ~5 min from now and the address until ~14 min from now
    _failures("keeper", "10.0.0.2", 5, 10)
    _failures("someone", "10.0.0.1", 5, 1)
    now = timezone.now()
    ends = login_lockout_ends(request=_request("10.0.0.1"), credentials={"username": "keeper"})
    assert ends is not None
    assert abs((ends - (now + WINDOW - timedelta(minutes=1))).total_seconds()) < 2


@override_settings(AXES_FAILURE_LIMIT=5, AXES_COOLOFF_TIME=WINDOW)
def test_no_lock_no_end():
    _failures("keeper", "10.0.0.2", 4, 1)
    _failures("keeper", "10.0.0.3", 3, 20)  # outside the window: forgotten
    assert login_lockout_ends(request=_request(), credentials={"username": "keeper"}) is None


@override_settings(AXES_FAILURE_LIMIT=5, AXES_COOLOFF_TIME=WINDOW)
def test_the_page_is_429_with_retry_after_and_the_time():
    _failures("keeper", "10.0.0.1", 5, 3)
    request = _request("10.0.0.1")
    request.user = AnonymousUser()
    response = lockout_response(request, None, {"username": "keeper"})
    body = response.content.decode()
    assert response.status_code == 429
    assert 11 * 60 <= int(response["Retry-After"]) <= 12 * 60 + 1
    assert response["Cache-Control"] == "no-store"
    assert "Try again after" in body and "(in 12 minutes)" in body
    assert "keeper" not in body


@pytest.mark.parametrize("length", [255, 256, 5000])
def test_a_login_with_a_username_longer_than_axes_holds_is_a_failed_login_not_a_500(client, length):
    response = client.post("/admin/login/", {"username": "u" * length, "password": "wrong"})

    assert response.status_code == 200  # the login page again, with its error
    (attempt,) = AccessAttempt.objects.all()
    assert attempt.username == "u" * min(length, 255)
