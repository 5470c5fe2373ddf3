"""/metrics: django-prometheus's metrics, ours, and several workers via the multiprocess dir."""

from __future__ import annotations

import os
import re
import subprocess
import sys

import pytest
from django.db import connection
from django.test import Client

from memories.metrics import MEMORY_COUNTS, MemoryCountsCollector

pytestmark = pytest.mark.django_db


def scrape() -> str:
    response = Client().get("/metrics")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/plain")
    return response.content.decode()


def sample(text: str, name: str, **labels: str) -> float | None:
    """The value of one sample, matching the given labels (others ignored)."""
    for line in text.splitlines():
        match = re.match(rf"^{re.escape(name)}(?:{{(.*)}})? (\S+)$", line)
        if not match:
            continue
        found = dict(re.findall(r'(\w+)="([^"]*)"', match.group(1) or ""))
        if all(found.get(key) == value for key, value in labels.items()):
            return float(match.group(2))
    return None


def test_metrics_after_api_traffic_has_route_db_cache_and_our_metrics(api):
    # Counters are per process and earlier tests added to them: compare before and after.
    before = scrape()
    MEMORY_COUNTS.invalidate()
    created = api.post("/memories", {"payload": {"content": "one"}, "memory_type": "semantic"})
    api.post("/memories", {"payload": {"content": "two"}})
    api.get("/memories")
    api.get(f"/memories/{created.json()['memory']['id']}")
    api.get("/memories/00000000-0000-0000-0000-000000000000")
    Client().get("/no/such/path")

    text = scrape()

    def grew(name: str, **labels: str) -> float:
        return (sample(text, name, **labels) or 0) - (sample(before, name, **labels) or 0)

    # Request latency by route pattern and method, each ninja operation apart.
    assert grew("soma_http_request_seconds_count", route="/memories", method="POST") == 2
    assert grew("soma_http_request_seconds_count", route="/memories", method="GET") == 1
    assert grew("soma_http_request_seconds_count", route="/memories/<ref>", method="GET") == 2
    assert grew("soma_http_responses_total", route="/memories/<ref>", method="GET", status="404") == 1
    assert grew("soma_http_request_seconds_count", route="<unmatched>", method="GET") == 1
    assert grew("soma_http_request_seconds_count", route="/metrics", method="GET") == 1
    # django-prometheus: per view, database and cache.
    assert sample(text, "django_http_requests_latency_seconds_by_view_method_count", view="api:create_memory") >= 2
    assert sample(text, "django_db_execute_total", alias="default", vendor="postgresql") >= 1
    assert "django_cache_get_total" in text
    # Ours: what PostgreSQL holds, computed at scrape time.
    assert sample(text, "soma_memories_stored", memory_type="semantic") == 1
    assert sample(text, "soma_memories_stored", memory_type="episodic") == 1
    assert sample(text, "soma_vectors_pending") is not None
    assert sample(text, "soma_vectors_failed") is not None
    # Ours: the embedding and vector-store path.
    for name, kind in [
        ("soma_embeddings_total", "counter"),
        ("soma_embedding_seconds", "histogram"),
        ("soma_vector_upserts_total", "counter"),
        ("soma_vector_failures_total", "counter"),
        ("soma_search_seconds", "histogram"),
    ]:
        assert f"# TYPE {name} {kind}" in text, name


@pytest.mark.parametrize("method", ["ZQ1", "TRACE", "CONNECT"])
def test_a_method_no_route_serves_is_a_405_that_adds_no_metric_series(method):
    response = Client().generic(method, "/healthz")

    assert (response.status_code, response.json()["code"]) == (405, "method_not_allowed")
    assert "GET" in response["Allow"]
    assert f'method="{method}"' not in scrape()  # django-prometheus labels by raw method


def test_memory_counts_are_cached_between_scrapes(api, django_assert_num_queries):
    collector = MemoryCountsCollector(cache_seconds=60)
    api.post("/memories", {"payload": {"content": "one"}})

    with django_assert_num_queries(1):
        first = {m.name: m.samples for m in collector.collect()}
    api.post("/memories", {"payload": {"content": "two"}})
    with django_assert_num_queries(0):
        second = {m.name: m.samples for m in collector.collect()}

    assert first == second
    assert [s.value for s in first["soma_memories_stored"] if s.labels["memory_type"] == "episodic"] == [1]


def test_memory_counts_recompute_after_their_interval(api):
    collector = MemoryCountsCollector(cache_seconds=0)
    api.post("/memories", {"payload": {"content": "one"}})
    assert collector.counts()["total"] == 1

    api.post("/memories", {"payload": {"content": "two"}})

    assert collector.counts()["total"] == 2


def test_several_workers_are_merged_in_multiprocess_mode(tmp_path):
    # Given two worker processes that each embedded some texts, writing to one multiprocess dir...
    env = {
        **os.environ,
        "PROMETHEUS_MULTIPROC_DIR": str(tmp_path),
        # The child processes read the test database this test can see.
        "DATABASE_URL": f"postgres://{connection.settings_dict['USER']}@127.0.0.1:5432/{connection.settings_dict['NAME']}",
    }
    worker = "import django; django.setup()\nfrom vectors.metrics import EMBEDDINGS\nEMBEDDINGS.inc({n})\n"
    for n in (3, 4):
        done = subprocess.run(
            [sys.executable, "-c", worker.format(n=n)], env=env, capture_output=True, text=True, timeout=120
        )
        assert done.returncode == 0, done.stderr

    # ...when a third answers the scrape, it reports their sum and the scrape-time gauges.
    scraper = (
        "import django; django.setup()\n"
        "from django.test import RequestFactory\n"
        "from soma_project.metrics import metrics_view\n"
        "print(metrics_view(RequestFactory().get('/metrics')).content.decode())\n"
    )
    done = subprocess.run([sys.executable, "-c", scraper], env=env, capture_output=True, text=True, timeout=120)

    assert done.returncode == 0, done.stderr
    assert sample(done.stdout, "soma_embeddings_total") == 7
    assert sample(done.stdout, "soma_memories_stored", memory_type="episodic") == 0
    assert len(list(tmp_path.glob("*.db"))) >= 2
