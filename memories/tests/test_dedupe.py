"""dedupe="exact" on create and on batch items (the semantic mode is tested in vectors/tests)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.db import connection
from django.utils import timezone

from conftest import ApiClient
from memories.dedupe import DedupeQuery, _exact, same_text_queryset
from memories.models import Memory, MemoryVersion
from tests_support.concurrency import at_once

pytestmark = pytest.mark.django_db


def state() -> tuple[list[Any], list[Any]]:
    return (
        sorted(Memory.objects.values_list("id", "tenant", "namespace", "payload", "version")),
        sorted(MemoryVersion.objects.values_list("memory_id", "version")),
    )


def test_an_exact_duplicate_is_answered_and_nothing_is_added(api):
    first = api.post("/memories", {"payload": {"content": "Alice prefers green tea"}}).json()
    before = state()

    again = api.post("/memories", {"payload": {"content": "Alice prefers green tea", "extra": 1}, "dedupe": "exact"})

    assert again.status_code == 200
    body = again.json()
    assert body["created"] is False
    assert body["duplicate_of"] == first["memory"]["id"]
    assert body["memory"] == first["memory"]
    assert state() == before


def test_without_dedupe_or_elsewhere_the_same_text_is_stored_again(api, api_for):
    first = api.post("/memories", {"payload": {"content": "same words"}}).json()
    assert first["duplicate_of"] is None

    plain = api.post("/memories", {"payload": {"content": "same words"}})
    other_namespace = api.post(
        "/memories", {"payload": {"content": "same words"}, "namespace": "n2", "dedupe": "exact"}
    )
    other_tenant = api_for("t2").post("/memories", {"payload": {"content": "same words"}, "dedupe": "exact"})
    other_text = api.post("/memories", {"payload": {"content": "same words!"}, "dedupe": "exact"})

    for response in (plain, other_namespace, other_tenant, other_text):
        assert response.status_code == 200
        assert (response.json()["created"], response.json()["duplicate_of"]) == (True, None)
    assert Memory.objects.count() == 5


@pytest.mark.parametrize("dedupe", ["exact", "semantic"])
def test_an_expired_memory_is_no_duplicate_and_the_new_write_is_stored(api, dedupe):
    expired = api.post("/memories", {"payload": {"content": "expired words"}}).json()["memory"]
    Memory.objects.filter(pk=expired["id"]).update(expires_at=timezone.now() - timedelta(seconds=1))

    again = api.post("/memories", {"payload": {"content": "expired words"}, "dedupe": dedupe})

    assert (again.json()["created"], again.json()["duplicate_of"]) == (True, None)
    assert api.get(f"/memories/{again.json()['memory']['id']}").status_code == 200
    assert [m["id"] for m in api.get("/memories").json()["items"]] == [again.json()["memory"]["id"]]


def test_an_empty_text_is_never_a_duplicate(api):
    api.post("/memories", {"payload": {"n": 1}})
    response = api.post("/memories", {"payload": {"n": 2}, "dedupe": "exact"})

    assert response.json()["created"] is True
    assert Memory.objects.count() == 2


def test_batch_items_are_deduplicated_against_the_store_and_each_other(api):
    stored = api.post("/memories", {"payload": {"content": "known fact"}}).json()["memory"]
    response = api.post(
        "/memories/batch",
        {
            "memories": [
                {"payload": {"content": "known fact"}, "dedupe": "exact"},
                {"payload": {"content": "new fact"}},
                {"payload": {"content": "new fact"}, "dedupe": "exact"},
                {"payload": {"content": "known fact"}},
            ]
        },
    )

    assert response.status_code == 200, response.content
    body = response.json()
    items = body["memories"]
    assert (body["created"], body["updated"], body["duplicates"]) == (2, 0, 2)
    assert items[0] == {"id": stored["id"], "coord": None, "duplicate_of": stored["id"]}
    assert items[1]["duplicate_of"] is None
    assert items[2] == {"id": items[1]["id"], "coord": None, "duplicate_of": items[1]["id"]}
    assert items[3]["duplicate_of"] is None and items[3]["id"] != stored["id"]
    assert sorted(Memory.objects.values_list("text", flat=True)) == ["known fact", "known fact", "new fact"]
    assert MemoryVersion.objects.count() == 3


@pytest.mark.parametrize(
    "extra",
    [{"dedupe": "fuzzy"}, {"dedupe": "exact", "dedupe_threshold": 1.5}, {"dedupe_threshold": -0.1}],
)
def test_bad_dedupe_options_are_refused(api, extra):
    api.post("/memories", {"payload": {"content": "x"}})
    before = state()

    single = api.post("/memories", {"payload": {"content": "x"}, **extra})
    batch = api.post("/memories/batch", {"memories": [{"payload": {"content": "x"}, **extra}]})

    assert (single.status_code, single.json()["code"]) == (422, "validation_error")
    assert (batch.status_code, batch.json()["code"]) == (422, "batch_item_invalid")
    assert state() == before


def test_the_exact_lookup_uses_the_text_hash_index():
    Memory.objects.bulk_create(
        [Memory(payload={"content": f"text {i}"}, text=f"text {i}", namespace=f"n{i % 4}") for i in range(3000)]
    )
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE memories_memory")
    queries = [DedupeQuery(namespace="n1", text="text 1"), DedupeQuery(namespace="n2", text="text 2")]

    found = _exact(tenant="default", queries=queries)
    sql, params = same_text_queryset(tenant="default", queries=queries).values_list("id").query.sql_with_params()
    with connection.cursor() as cursor:
        cursor.execute(f"EXPLAIN {sql}", params)
        plan = "\n".join(row[0] for row in cursor.fetchall())

    assert set(found) == {("n1", "text 1"), ("n2", "text 2")}
    assert "memory_text_hash" in plan
    assert "Seq Scan" not in plan


@pytest.mark.django_db(transaction=True)
def test_concurrent_exact_writes_of_one_text_store_it_once():
    def send() -> Any:
        return ApiClient().post("/memories", {"payload": {"content": "said ten times"}, "dedupe": "exact"}).json()

    answers = at_once(send, times=10)

    assert Memory.objects.count() == 1
    memory_id = str(Memory.objects.get().pk)
    assert sorted(answer["created"] for answer in answers) == [False] * 9 + [True]
    assert {answer["memory"]["id"] for answer in answers} == {memory_id}
    assert [answer["duplicate_of"] for answer in answers].count(memory_id) == 9
