"""/metrics and the per-route request metrics.

django-prometheus labels requests by URL name, and django-ninja names one URL pattern per path
after its first operation: GET /memories is reported as `api:create_memory`. So we also record
the route pattern (`memories/<ref>`) and method, which is what dashboards group by.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable

import prometheus_client
from django.http import HttpRequest, HttpResponse
from prometheus_client import Counter, Histogram, multiprocess

from memories.metrics import MEMORY_COUNTS
from soma_project.middleware import KNOWN_METHODS
from soma_project.throttling import ClientIpRateThrottle, throttled_view

HTTP_REQUEST_SECONDS = Histogram("soma_http_request_seconds", "Request latency by route pattern", ["route", "method"])
HTTP_RESPONSES = Counter(
    "soma_http_responses_total", "Responses by route pattern and status", ["route", "method", "status"]
)

# Every counter and histogram would also export a `_created` timestamp series: it doubles the
# series count and Prometheus ignores it unless told otherwise.
prometheus_client.disable_created_metrics()

_UNMATCHED = "<unmatched>"


class RouteMetricsMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        started = time.perf_counter()
        response = self.get_response(request)
        match = getattr(request, "resolver_match", None)
        # Unknown paths share one label, so scanners cannot grow the series without bound.
        route = "/" + match.route if match is not None and match.route is not None else _UNMATCHED
        method = request.method if request.method in KNOWN_METHODS else "other"
        HTTP_REQUEST_SECONDS.labels(route, method).observe(time.perf_counter() - started)
        HTTP_RESPONSES.labels(route, method, str(response.status_code)).inc()
        return response


def _registry() -> prometheus_client.CollectorRegistry:
    if "PROMETHEUS_MULTIPROC_DIR" not in os.environ:
        return prometheus_client.REGISTRY
    # Several gunicorn workers: every worker writes its samples under PROMETHEUS_MULTIPROC_DIR
    # and whichever worker answers the scrape merges them. Scrape-time collectors (counts
    # read from PostgreSQL) are added here: they are not per-process values.
    registry = prometheus_client.CollectorRegistry()
    multiprocess.MultiProcessCollector(registry)
    registry.register(MEMORY_COUNTS)
    return registry


@throttled_view(ClientIpRateThrottle())
def metrics_view(request: HttpRequest) -> HttpResponse:
    return HttpResponse(
        prometheus_client.generate_latest(_registry()), content_type=prometheus_client.CONTENT_TYPE_LATEST
    )
