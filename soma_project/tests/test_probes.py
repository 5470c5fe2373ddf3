from datetime import timedelta

import pytest
from django.utils import timezone

from graph.models import Link
from memories.models import Memory, VectorStatus

pytestmark = pytest.mark.django_db


def test_healthz(api_for):
    response = api_for(token=None).get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


def test_readyz_when_everything_answers(api_for):
    response = api_for(token=None).get("/readyz")
    assert response.status_code == 200
    assert response.json() == {"kv_store": True, "vector_store": True, "graph_store": True, "cache": True}


def test_health_needs_a_token_and_reports_services(api, api_for):
    assert api_for(token=None).get("/health").status_code == 401

    response = api.get("/health")

    assert response.status_code == 200
    body = response.json()
    assert body["healthy"] is True
    assert body["status"] == "ok"
    assert body["version"] == "1.4.0"
    assert body["uptime_seconds"] >= 0
    names = [service["name"] for service in body["services"]]
    assert names[0] == "postgresql"
    assert set(names[1:]) in ({"redis", "qdrant", "embedder"}, {"cache", "qdrant", "embedder"})
    assert all(service["healthy"] and service["latency_ms"] >= 0 for service in body["services"])
    assert body["database"] == {
        "memories": 0,
        "episodic": 0,
        "semantic": 0,
        "links": 0,
        "vectors_pending": 0,
        "vectors_failed": 0,
    }


def test_stats_global_without_token_and_per_tenant_with_one(api_for):
    # Given alice's three memories, one indexed, one failed and one pending, and bob's one, pending
    alice = api_for("alice")
    for kind in ("episodic", "episodic", "semantic"):
        assert alice.post("/memories", {"payload": {"content": kind}, "memory_type": kind}).status_code == 200
    assert api_for("bob").post("/memories", {"payload": {"content": "y"}}).status_code == 200
    first, second, third = Memory.objects.filter(tenant="alice").order_by("created_at", "id")
    Memory.objects.filter(pk=first.pk).update(vector_status=VectorStatus.INDEXED)
    Memory.objects.filter(pk=second.pk).update(vector_status=VectorStatus.FAILED)
    assert Memory.objects.get(pk=third.pk).vector_status == VectorStatus.PENDING

    public = api_for(token=None).get("/stats").json()
    mine = alice.get("/stats").json()

    # Then "pending" is every memory not indexed yet (a failed one too), counted per tenant
    assert public == {"total_memories": 4, "episodic": 3, "semantic": 1, "total_links": 0, "vectors_pending": 3}
    assert mine == {
        "total_memories": 3,
        "episodic": 2,
        "semantic": 1,
        "total_links": 0,
        "vectors_pending": 2,
    }
    assert api_for(token="wrong").get("/stats").status_code == 401


def test_stats_and_health_leave_out_links_that_touch_an_expired_memory(api, api_for):
    # Given a -> b, b -> c and c -> a, then b expired (not purged yet)
    ids = {}
    for name, coord in (("a", "1,1"), ("b", "2,2"), ("c", "3,3")):
        ids[name] = api.post("/memories", {"payload": {"content": name}, "coord": coord}).json()["memory"]["id"]
    for source, target in (("a", "b"), ("b", "c"), ("c", "a")):
        response = api.post("/graph/link", {"from_id": ids[source], "to_id": ids[target]})
        assert response.status_code == 200, response.content
    assert api.get("/stats").json()["total_links"] == 3
    Memory.objects.filter(pk=ids["b"]).update(expires_at=timezone.now() - timedelta(seconds=1))

    # Then only c -> a is counted, per tenant and globally, though every link row is still there
    assert api.get("/stats").json()["total_links"] == 1
    assert api_for(token=None).get("/stats").json()["total_links"] == 1
    assert api.get("/health").json()["database"]["links"] == 1
    assert Link.objects.count() == 3


def test_openapi_and_docs_render(api_for):
    client = api_for(token=None)
    schema = client.get("/openapi.json")
    assert schema.status_code == 200
    paths = schema.json()["paths"]
    for path in ("/memories", "/memories/{ref}", "/memories/batch", "/healthz", "/readyz", "/stats"):
        assert path in paths
    docs = client.get("/docs")
    assert docs.status_code == 200
    assert b"openapi.json" in docs.content
