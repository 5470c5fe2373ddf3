"""Rate limits: per API key on the API, per client address on probes and /metrics."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
from collections.abc import Iterator

import pytest
from django.conf import settings
from django.test import Client, RequestFactory, override_settings

from accounts.services import api_key_create
from memories.models import Memory
from soma_project import throttling

pytestmark = pytest.mark.django_db

REDIS_DOWN = {
    "default": {
        "BACKEND": "django_prometheus.cache.backends.redis.RedisCache",
        # Port 1: nothing listens, every connection is refused at once.
        "LOCATION": "redis://127.0.0.1:1/0",
        "OPTIONS": {
            "CLIENT_CLASS": "django_redis.client.DefaultClient",
            "SOCKET_CONNECT_TIMEOUT": 0.5,
            "SOCKET_TIMEOUT": 0.5,
            "IGNORE_EXCEPTIONS": True,
        },
    }
}


# One second into a UTC day: one second into a window of every rate unit (s, m, h, d).
WINDOW_START = 20_000 * 86_400
FROZEN = WINDOW_START + 1


@pytest.fixture(autouse=True)
def _cache_breaker_closed() -> Iterator[None]:
    throttling._cache_down_until = 0.0
    throttling._last_fail_open_log = 0.0
    yield
    throttling._cache_down_until = 0.0


@pytest.fixture(autouse=True)
def _frozen_window(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every request of a test falls in one window: none can straddle a boundary and find a fresh budget."""
    monkeypatch.setattr(throttling, "window_now", lambda: float(FROZEN))


def assert_throttled(response, *, retry_after: int = 59) -> None:
    """Refused one second into a window (of a minute unless told): Retry-After is the rest of it."""
    assert response.status_code == 429
    assert response.json() == {"detail": "Too many requests.", "code": "throttled"}
    assert response["Retry-After"] == str(retry_after)


@override_settings(SOMA_THROTTLE_KEY_RATE="3/m")
def test_an_api_key_is_limited_to_its_rate(api_for):
    client = api_for(token=api_key_create(tenant="acme").token)

    statuses = [client.post("/memories", {"payload": {"n": n}}).status_code for n in range(3)]
    refused = client.post("/memories", {"payload": {"n": 3}})

    assert statuses == [200, 200, 200]
    assert_throttled(refused)
    assert Memory.objects.count() == 3


@override_settings(SOMA_THROTTLE_KEY_RATE="2/m")
def test_limits_count_per_key_across_routes(api_for):
    first = api_for(token=api_key_create(tenant="acme").token)
    second = api_for(token=api_key_create(tenant="acme").token)

    assert first.get("/memories").status_code == 200
    assert first.get("/memories/00000000-0000-0000-0000-000000000000").status_code == 404
    assert_throttled(first.post("/memories", {"payload": {"n": 1}}))
    # Another key of the same tenant has its own budget.
    assert second.get("/memories").status_code == 200
    assert Memory.objects.count() == 0


def test_every_route_has_its_throttle():
    from soma_project.api import api

    throttles = {}
    for bound in api._get_bound_routers():
        for path, path_view in bound.path_operations.items():
            for operation in path_view.operations:
                route = f"{bound.prefix}{path}"
                throttles[route] = {type(t).__name__ for t in operation.throttle_objects}

    assert throttles, "no routes found"
    for route, names in throttles.items():
        if route.startswith(("/memories", "/graph")):
            assert names == {"PrincipalRateThrottle"}, route
        else:
            assert names == {"ClientIpRateThrottle"}, route


@override_settings(SOMA_THROTTLE_KEY_RATE="1/m")
def test_the_master_token_is_limited_per_tenant(api_for):
    assert api_for(tenant="acme").get("/memories").status_code == 200
    assert_throttled(api_for(tenant="acme").get("/memories"))
    assert api_for(tenant="globex").get("/memories").status_code == 200


@override_settings(SOMA_THROTTLE_KEY_RATE="1/m")
def test_unauthenticated_requests_get_401_not_a_throttle_slot(api_for):
    anonymous = api_for(token=None)

    responses = [anonymous.get("/memories") for _ in range(3)]

    assert [r.status_code for r in responses] == [401, 401, 401]


@override_settings(SOMA_THROTTLE_PUBLIC_RATE="2/m")
@pytest.mark.parametrize("path", ["/healthz", "/stats", "/metrics"])
def test_public_endpoints_are_limited_per_client_address(path):
    client = Client()

    statuses = [client.get(path, REMOTE_ADDR="10.0.0.1").status_code for _ in range(2)]
    refused = client.get(path, REMOTE_ADDR="10.0.0.1")
    other_address = client.get(path, REMOTE_ADDR="10.0.0.2")

    assert statuses == [200, 200]
    assert_throttled(refused)
    assert other_address.status_code == 200


@override_settings(SOMA_THROTTLE_PUBLIC_RATE="2/m")
def test_probes_and_metrics_share_one_budget_per_address():
    client = Client()

    assert client.get("/healthz", REMOTE_ADDR="10.0.0.3").status_code == 200
    assert client.get("/metrics", REMOTE_ADDR="10.0.0.3").status_code == 200
    assert_throttled(client.get("/readyz", REMOTE_ADDR="10.0.0.3"))


@pytest.mark.skipif(
    not settings.REDIS_URL,
    reason="REDIS_URL is unset (nothing listened on 127.0.0.1:6379 when the run started): without Redis each "
    "process counts in its own local-memory cache, so no limit can be shared across processes",
)
def test_limits_hold_across_processes():
    # Given another process (as another gunicorn worker or pod would), on the same frozen window,
    # spends the budget...
    code = (
        "import django; django.setup()\n"
        "from django.test import Client\n"
        "from soma_project import throttling\n"
        f"throttling.window_now = lambda: {FROZEN}.0\n"
        "from django.test.utils import setup_test_environment; setup_test_environment()\n"
        "c = Client()\n"
        "print([c.get('/healthz', REMOTE_ADDR='10.9.9.9').status_code for _ in range(3)])\n"
    )
    env = {**os.environ, "SOMA_THROTTLE_PUBLIC_RATE": "3/m", "ALLOWED_HOSTS": "testserver"}
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[200, 200, 200]"

    # ...then this process is refused for the same address.
    with override_settings(SOMA_THROTTLE_PUBLIC_RATE="3/m"):
        assert_throttled(Client().get("/healthz", REMOTE_ADDR="10.9.9.9"))


@override_settings(CACHES=REDIS_DOWN, SOMA_THROTTLE_KEY_RATE="1/m", SOMA_THROTTLE_PUBLIC_RATE="1/m")
def test_redis_down_fails_open_and_logs(api, caplog):
    caplog.set_level(logging.WARNING, logger="soma.throttling")

    api_statuses = [api.post("/memories", {"payload": {"n": n}}).status_code for n in range(3)]
    probe_statuses = [Client().get("/healthz").status_code for _ in range(3)]

    assert api_statuses == [200, 200, 200]
    assert probe_statuses == [200, 200, 200]
    assert Memory.objects.count() == 3
    warnings = [r.getMessage() for r in caplog.records if r.name == "soma.throttling"]
    # Logged once, not once per request.
    assert warnings == ["throttle cache unavailable, key limit not enforced (failing open)"]


@override_settings(CACHES=REDIS_DOWN, SOMA_THROTTLE_PUBLIC_RATE="1/m")
def test_redis_down_skips_the_cache_for_a_while_after_a_failure():
    Client().get("/healthz")

    assert throttling._cache_down_until > 0
    assert Client().get("/healthz").status_code == 200


def test_retry_after_points_at_the_end_of_the_window():
    throttle = throttling.ClientIpRateThrottle()
    with override_settings(SOMA_THROTTLE_PUBLIC_RATE="1/h"):
        request = RequestFactory().get("/healthz", REMOTE_ADDR="10.1.1.1")
        assert throttle.allow_request(request) is True
        assert throttle.allow_request(request) is False

    assert throttle.wait() == 3599.0


def test_windows_are_fixed_and_numbered_from_the_epoch():
    assert throttling.window_at(WINDOW_START - 0.5, 60) == (WINDOW_START // 60 - 1, 0.5)
    assert throttling.window_at(WINDOW_START, 60) == (WINDOW_START // 60, 60.0)
    assert throttling.window_at(FROZEN, 3600) == (WINDOW_START // 3600, 3599.0)


@override_settings(SOMA_THROTTLE_PUBLIC_RATE="1/m")
def test_a_new_window_brings_a_new_budget(monkeypatch: pytest.MonkeyPatch):
    # Given the budget spent in the last half second of a window
    throttle = throttling.ClientIpRateThrottle()
    request = RequestFactory().get("/healthz", REMOTE_ADDR="10.1.1.2")
    monkeypatch.setattr(throttling, "window_now", lambda: WINDOW_START - 0.5)
    assert throttle.allow_request(request) is True
    assert throttle.allow_request(request) is False
    assert throttle.wait() == 0.5

    # When the next window starts, then the same address is let through again (fixed windows)
    monkeypatch.setattr(throttling, "window_now", lambda: float(WINDOW_START))
    assert throttle.allow_request(request) is True
    assert throttle.allow_request(request) is False
