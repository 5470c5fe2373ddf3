from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from django.core.management import call_command

from memories.models import Memory, VectorStatus
from soma_project.search_cache import rendered_searches
from vectors.backend import embedding_model_name
from vectors.stores.base import VectorStore
from vectors.stores.edge import EdgeStore
from vectors.tests.conftest import install

pytestmark = pytest.mark.django_db

MEMORY_FIELDS = {
    "id", "coord", "coordinate", "namespace", "memory_type", "payload", "text", "metadata", "importance",
    "created_at", "updated_at", "vector_status", "version", "score", "via", "context",
    "pinned", "expires_at", "last_accessed_at", "access_count",
}  # fmt: skip


def search(api: Any, **params: Any) -> Any:
    return api.post("/memories/search", params)


def found(response: Any) -> list[str]:
    assert response.status_code == 200, response.content
    return [hit["text"] for hit in response.json()["memories"]]


def test_post_search_answers_memories_with_scores(vector_store: VectorStore, api: Any, write: Callable[..., Memory]):
    memory = write("Hummingbirds can fly backwards.", coord="1,2")
    write("Tortoises live for a century.")

    response = search(api, query="birds flying in reverse", top_k=1)

    assert response.status_code == 200
    body = response.json()
    assert body["degraded"] is False
    (hit,) = body["memories"]
    assert set(hit) == MEMORY_FIELDS
    assert (hit["id"], hit["coord"], hit["vector_status"], hit["via"]) == (str(memory.pk), "1.0,2.0", "indexed", None)
    assert 0.3 < hit["score"] <= 1.0


def test_get_search_takes_the_same_parameters(vector_store: VectorStore, api: Any, write: Callable[..., Memory]):
    write("Apples are red.", metadata={"kind": "fruit"}, namespace="food", memory_type="semantic")
    write("Fire trucks are red.", metadata={"kind": "vehicle"}, namespace="food", memory_type="semantic")

    response = api.get(
        "/memories/search",
        {
            "query": "red things",
            "namespace": "food",
            "memory_type": "semantic",
            "filters": json.dumps({"kind": "fruit"}),
        },
    )

    assert found(response) == ["Apples are red."]


@pytest.mark.parametrize(
    ("params", "status", "code"),
    [
        ({"query": ""}, 422, "validation_error"),
        ({"query": "   "}, 422, "validation_error"),
        ({"query": "x" * 2001}, 422, "validation_error"),
        ({"query": "x", "top_k": 101}, 422, "validation_error"),
        ({"query": "x", "top_k": 0}, 422, "validation_error"),
        ({"query": "x", "offset": -1}, 422, "validation_error"),
        ({"query": "x", "offset": 10_001}, 422, "validation_error"),
        ({"query": "x", "mode": "x"}, 422, "validation_error"),
        ({"query": "x", "expand_hops": 3}, 422, "validation_error"),
        ({"query": "x", "context": 6}, 422, "validation_error"),
        ({"query": "x", "context": -1}, 422, "validation_error"),
        ({"query": "x", "namespace": "bad namespace"}, 422, "validation_error"),
        ({"query": "x", "filters": {"a": {"like": 1}}}, 400, "invalid_filter"),
        ({"query": "x", "filters": ["a"]}, 400, "invalid_filter"),
        ({"query": "x", "filters": "{not json"}, 400, "invalid_filter"),
        ({"top_k": 3}, 422, "validation_error"),
    ],
)
def test_bad_search_parameters_are_refused_with_the_error_shape(
    vector_store: VectorStore, api: Any, params: dict[str, Any], status: int, code: str
):
    response = search(api, **params)

    assert response.status_code == status
    assert response.json()["code"] == code
    assert set(response.json()) == {"detail", "code"}


def test_get_search_refuses_filters_that_are_not_json(vector_store: VectorStore, api: Any):
    response = api.get("/memories/search", {"query": "x", "filters": "{nope"})

    assert (response.status_code, response.json()["code"]) == (400, "invalid_filter")


def test_search_needs_a_token(vector_store: VectorStore, api_for: Callable[..., Any]):
    response = search(api_for(token=None), query="x")

    assert (response.status_code, response.json()["code"]) == (401, "unauthorized")


def test_search_is_scoped_to_the_callers_tenant(
    vector_store: VectorStore, api_for: Callable[..., Any], write: Callable[..., Memory]
):
    acme, globex = api_for(tenant="acme"), api_for(tenant="globex")
    write("Acme's secret formula is cinnamon.", client=acme)
    write("Globex's secret formula is cardamom.", client=globex)

    assert found(search(acme, query="secret formula", top_k=100)) == ["Acme's secret formula is cinnamon."]
    assert found(search(globex, query="secret formula", top_k=100, mode="hybrid")) == [
        "Globex's secret formula is cardamom."
    ]


def test_a_selective_filter_over_http_returns_the_one_match(
    edge_store: VectorStore, api: Any, django_capture_on_commit_callbacks: Any
):
    items = [
        {"payload": {"content": f"Espresso shot {i} pulled at 9 bar."}, "metadata": {"team": "a"}} for i in range(300)
    ]
    items.append({"payload": {"content": "A flat white with oat milk."}, "metadata": {"team": "b"}})
    with django_capture_on_commit_callbacks(execute=True):
        assert api.post("/memories/batch", {"memories": items}).status_code == 200

    response = search(api, query="espresso coffee", top_k=3, filters={"team": "b"})

    assert found(response) == ["A flat white with oat milk."]


def test_patching_the_text_re_embeds(
    vector_store: VectorStore, api: Any, write: Callable[..., Memory], django_capture_on_commit_callbacks: Any
):
    memory = write("The cat sat on the warm windowsill.")
    write("A kitten dozes in the sun by the window.")

    with django_capture_on_commit_callbacks(execute=True):
        response = api.patch(f"/memories/{memory.pk}", {"text": "Quarterly revenue grew by twelve percent."})

    assert response.status_code == 200
    assert found(search(api, query="the company's earnings increased", top_k=1)) == [
        "Quarterly revenue grew by twelve percent."
    ]
    assert found(search(api, query="cat on the windowsill", top_k=1)) == ["A kitten dozes in the sun by the window."]


def test_a_deleted_memory_is_no_longer_found(
    vector_store: VectorStore, api: Any, write: Callable[..., Memory], django_capture_on_commit_callbacks: Any
):
    memory = write("Glaciers carve valleys.")

    with django_capture_on_commit_callbacks(execute=True):
        assert api.delete(f"/memories/{memory.pk}").status_code == 200

    assert found(search(api, query="glaciers carve valleys")) == []
    assert vector_store.count(tenant="default") == 0


def test_expansion_adds_linked_memories_after_the_hits(
    vector_store: VectorStore, api: Any, write: Callable[..., Memory]
):
    hit = write("Volcanoes erupt molten rock.")
    linked = write("Pompeii was buried in 79 AD.")
    further = write("Archaeologists still dig there.")
    write("Unrelated: the bakery opens at seven.")
    for source, target, kind in ((hit, linked, "caused"), (linked, further, "related")):
        response = api.post("/graph/link", {"from_id": str(source.pk), "to_id": str(target.pk), "link_type": kind})
        assert response.status_code == 200

    response = search(api, query="volcanic eruption lava", top_k=1, expand_hops=2)

    memories = response.json()["memories"]
    assert [m["text"] for m in memories] == [hit.text, linked.text, further.text]
    assert memories[0]["via"] is None
    assert memories[1]["via"] == {"id": str(hit.pk), "link_type": "caused", "strength": 1.0, "depth": 1}
    assert memories[2]["via"] == {"id": str(hit.pk), "link_type": "related", "strength": 1.0, "depth": 2}
    assert memories[1]["score"] is None


def test_expansion_never_repeats_a_hit(vector_store: VectorStore, api: Any, write: Callable[..., Memory]):
    first = write("Volcanoes erupt molten rock.")
    second = write("Lava flows from volcanic eruptions.")
    api.post("/graph/link", {"from_id": str(first.pk), "to_id": str(second.pk)})

    response = search(api, query="volcano lava", top_k=2, expand_hops=1)

    assert sorted(found(response)) == sorted([first.text, second.text])


def test_search_costs_one_query_with_a_cached_embedding(
    vector_store: VectorStore, api: Any, write: Callable[..., Memory], django_assert_num_queries: Callable[..., Any]
):
    write("Otters hold hands while sleeping.")
    search(api, query="otters")

    with django_assert_num_queries(1):
        response = search(api, query="otters")

    assert found(response) == ["Otters hold hands while sleeping."]


def test_with_the_store_down_writes_succeed_search_degrades_and_reindex_repairs(
    api: Any,
    write: Callable[..., Memory],
    store_down: Callable[[], VectorStore],
    tmp_path: Path,
):
    # Given a Qdrant server that is down
    store_down()

    # When a memory is written: the write succeeds, its vector is marked failed
    memory = write("Meteor showers peak in August.")
    memory.refresh_from_db()
    assert memory.vector_status == VectorStatus.FAILED

    # Then search answers from PostgreSQL full-text, flagged degraded
    response = search(api, query="meteor showers")
    assert response.status_code == 200
    assert response.json()["degraded"] is True
    assert found(response) == ["Meteor showers peak in August."]

    # And readiness says which dependency is down
    ready = api.get("/readyz")
    assert ready.status_code == 503
    assert ready.json()["vector_store"] is False
    assert ready.json()["kv_store"] is True

    # When the store is back and the sweep runs
    store = install(EdgeStore(tmp_path / "back", model_name=embedding_model_name()))
    call_command("reindex", "--dirty", verbosity=0)

    # Then the memory is indexed and found by meaning again
    memory.refresh_from_db()
    assert memory.vector_status == VectorStatus.INDEXED
    assert store.count(tenant="default") == 1
    response = search(api, query="shooting stars in late summer")
    assert response.json()["degraded"] is False
    assert found(response) == ["Meteor showers peak in August."]
    assert api.get("/readyz").status_code == 200


def test_a_repeated_search_reuses_its_answer_while_the_rows_are_unchanged(
    vector_store: VectorStore, api: Any, write: Callable[..., Memory], django_assert_num_queries: Callable[..., Any]
):
    write("Otters hold hands while sleeping.")
    write("Sea otters use rocks as tools.")
    first = search(api, query="otters", top_k=2)
    rendered_searches.clear()
    fresh = search(api, query="otters", top_k=2)  # rendered again from the rows

    with django_assert_num_queries(1):  # the rows' versions only
        again = search(api, query="otters", top_k=2)

    # ninja renders an expanded search itself; with no links it is the same answer, byte for byte
    by_ninja = search(api, query="otters", top_k=2, expand_hops=1)

    assert first.status_code == fresh.status_code == again.status_code == by_ninja.status_code == 200
    assert again.content == fresh.content == first.content == by_ninja.content
    assert (
        again["Content-Type"] == fresh["Content-Type"] == by_ninja["Content-Type"] == "application/json; charset=utf-8"
    )


@pytest.mark.parametrize(
    "change",
    [
        # No signal, no updated_at: only PostgreSQL knows the row changed.
        'UPDATE memories_memory SET payload = \'{"content": "changed"}\'::jsonb WHERE id = %s',
        "UPDATE memories_memory SET importance = 0.25 WHERE id = %s",
        "DELETE FROM memories_memory WHERE id = %s",
    ],
)
def test_a_reused_answer_shows_every_change_to_its_rows(
    vector_store: VectorStore, api: Any, write: Callable[..., Memory], change: str
):
    from django.db import connection

    memory = write("Otters hold hands while sleeping.")
    before = search(api, query="otters").json()["memories"]
    for _ in range(2):  # the same transaction may change a row twice: each change is seen
        with connection.cursor() as cursor:
            cursor.execute(change, [memory.pk])
        expected = [Memory.objects.get(pk=memory.pk)] if Memory.objects.filter(pk=memory.pk).exists() else []

        after = search(api, query="otters").json()["memories"]

        assert [(hit["id"], hit["payload"], hit["importance"]) for hit in after] == [
            (str(m.pk), m.payload, m.importance) for m in expected
        ]
    assert [(hit["id"], hit["payload"], hit["importance"]) for hit in before] == [
        (str(memory.pk), memory.payload, memory.importance)
    ]
