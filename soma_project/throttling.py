"""Rate limits on the default cache (Redis in production, so every worker and pod shares them).

ninja's SimpleRateThrottle keeps a list of every request's timestamp in one cache entry and
rewrites it on each request (a 6,000-entry list per key at the default rate), races between
workers (get then set), and keeps its per-request state on the shared throttle instance.
These throttles keep ninja's interface (`allow_request` / `wait`, rates like "600/m") and
take the client address from soma_project/client_address.py, as the login lockout does, but
count in fixed windows with the cache's atomic `incr`: two small round trips, correct under
concurrency. A window may admit up to twice the
rate across its boundary, which is acceptable for abuse protection.

Cache down (Redis unreachable, IGNORE_EXCEPTIONS): requests are let through and a warning is
logged at most once a minute per process; availability wins over rate limiting. After a failure
the throttles skip the cache for a few seconds, so an outage does not add a connection attempt
(and a logged traceback) to every request.
"""

from __future__ import annotations

import functools
import logging
import math
import threading
import time
from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.core.cache import cache
from django.http import HttpRequest, HttpResponse, JsonResponse
from ninja.throttling import SimpleRateThrottle

from core.errors import ErrorCode, error_body
from soma_project.client_address import client_address

logger = logging.getLogger("soma.throttling")

_FAIL_OPEN_LOG_INTERVAL = 60.0
_CACHE_RETRY_AFTER = 5.0
_last_fail_open_log = 0.0
_cache_down_until = 0.0
_state = threading.local()


@functools.lru_cache(maxsize=16)
def _parse_rate(rate: str) -> tuple[int, int]:
    count, duration = SimpleRateThrottle.parse_rate(SimpleRateThrottle, rate)  # type: ignore[arg-type]
    assert count is not None and duration is not None
    return count, duration


def _fail_open(scope: str) -> None:
    global _last_fail_open_log, _cache_down_until
    now = time.monotonic()
    _cache_down_until = now + _CACHE_RETRY_AFTER
    if now - _last_fail_open_log >= _FAIL_OPEN_LOG_INTERVAL:
        _last_fail_open_log = now
        logger.warning("throttle cache unavailable, %s limit not enforced (failing open)", scope)


def window_now() -> float:
    """The clock the windows are counted on (tests freeze it at a window's start)."""
    return time.time()


def window_at(now: float, duration: int) -> tuple[int, float]:
    """The number of the fixed window of `duration` seconds that `now` falls in, and the seconds
    left until it ends (the Retry-After of a request refused at `now`)."""
    window = int(now // duration)
    return window, (window + 1) * duration - now


class WindowRateThrottle(SimpleRateThrottle):
    """Fixed-window counter; the rate is read from the setting named by `rate_setting`."""

    scope = "window"
    rate_setting = ""

    def __init__(self) -> None:
        # Rates are resolved per request so they follow the settings (and override_settings).
        self.rate = None
        self.num_requests, self.duration = None, None

    def ident(self, request: HttpRequest) -> str | None:
        raise NotImplementedError

    def get_ident(self, request: HttpRequest) -> str | None:
        return client_address(request)

    def current_rate(self) -> tuple[int, int]:
        return _parse_rate(getattr(settings, self.rate_setting))

    def allow_request(self, request: HttpRequest) -> bool:
        ident = self.ident(request)
        if ident is None or time.monotonic() < _cache_down_until:
            return True
        limit, duration = self.current_rate()
        window, retry_after = window_at(window_now(), duration)
        key = f"throttle:{self.scope}:{ident}:{window}"
        # State for wait(): ninja calls it right after allow_request, on the same thread and
        # with no await in between, while the instance itself is shared by all requests.
        _state.retry_after = retry_after
        try:
            cache.add(key, 0, timeout=duration + 1)
            count = cache.incr(key)
        except ValueError:
            # The key expired between add and incr: a new window, this request is its first.
            return True
        except Exception:  # a throttle must never turn a cache fault into a 500
            count = None
        if count is None:  # django-redis with IGNORE_EXCEPTIONS answers None when Redis is down
            _fail_open(self.scope)
            return True
        return count <= limit

    def wait(self) -> float | None:
        return getattr(_state, "retry_after", None)


class PrincipalRateThrottle(WindowRateThrottle):
    """Per API key (or per tenant for the master token), after authentication."""

    scope = "key"
    rate_setting = "SOMA_THROTTLE_KEY_RATE"

    def ident(self, request: HttpRequest) -> str | None:
        principal = getattr(request, "auth", None)
        throttle_key = getattr(principal, "throttle_key", None)
        return throttle_key if throttle_key is not None else self.get_ident(request)


class ClientIpRateThrottle(WindowRateThrottle):
    """Per client address, for the public probes and /metrics."""

    scope = "ip"
    rate_setting = "SOMA_THROTTLE_PUBLIC_RATE"

    def ident(self, request: HttpRequest) -> str | None:
        return self.get_ident(request) or "unknown"


def throttled_view(
    throttle: WindowRateThrottle,
) -> Callable[[Callable[..., HttpResponse]], Callable[..., HttpResponse]]:
    """The same limits for a plain Django view (e.g. /metrics), with the API's 429 shape."""

    def decorate(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
        @functools.wraps(view)
        def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
            if not throttle.allow_request(request):
                response = JsonResponse(error_body("Too many requests.", ErrorCode.THROTTLED), status=429)
                response["Retry-After"] = str(max(1, math.ceil(throttle.wait() or 1)))
                return response
            return view(request, *args, **kwargs)

        return wrapper

    return decorate
