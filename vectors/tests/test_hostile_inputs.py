"""What one bad memory, a delete during indexing, or a hostile filter in degraded mode must not do."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest

from memories.columns import INDEXED_COLUMNS
from memories.models import Memory, VectorStatus
from memories.services.delete import memory_delete
from tests_support.factories import stored
from vectors.runtime import store_cooldown
from vectors.services.indexing import UNREPRESENTABLE, memories_index, memories_index_loaded
from vectors.services.maintenance import memories_reindex
from vectors.stores.base import VectorStore

pytestmark = pytest.mark.django_db

HUGE = 10**401  # PostgreSQL's jsonb holds it; no double (and so no vector store payload) does


def poison(memory: Memory) -> None:
    """A row written before the API refused such numbers (or by SQL): the write path is closed."""
    Memory.objects.filter(pk=memory.pk).update(payload={"content": memory.text, "n": HUGE})


def states() -> dict[str, tuple[str, str]]:
    return {
        text: (status, error)
        for text, status, error in Memory.objects.values_list("text", "vector_status", "vector_error")
    }


def test_a_memory_the_engine_cannot_represent_fails_alone_in_its_batch(vector_store: VectorStore) -> None:
    # Given three pending memories, one holding a number no double holds
    good, bad, other = stored("Kites need wind.", "Poisoned numbers here.", "Tides follow the moon.")
    poison(bad)

    # When they are indexed together
    summary = memories_index(ids=[good.pk, bad.pk, other.pk])

    # Then only the bad one failed, with a reason that says why, and the store is not cooling down
    assert (summary.indexed, summary.failed) == (2, 1)
    assert states() == {
        "Kites need wind.": ("indexed", ""),
        "Poisoned numbers here.": ("failed", UNREPRESENTABLE),
        "Tides follow the moon.": ("indexed", ""),
    }
    assert sorted(vector_store.iter_ids()) == sorted([str(good.pk), str(other.pk)])
    assert store_cooldown.blocking(vector_store) is None


def test_the_sweep_indexes_every_tenant_past_a_poisoned_memory(vector_store: VectorStore) -> None:
    # Given a poisoned memory in one tenant and pending memories of others, in the same chunks
    (bad,) = stored("Poisoned in tenant a.", tenant="a")
    poison(bad)
    stored("Bees dance.", "Owls hunt at night.", tenant="b")
    stored("Ferns like shade.", tenant="c")

    # When the sweep runs, twice (a failed memory is dirty and tried again)
    for _ in range(2):
        summary = memories_reindex(dirty=True, batch_size=2)

        # Then every other tenant's memory is indexed, and only the poisoned one failed
        assert summary.failed == 1
        assert {text: state[0] for text, state in states().items()} == {
            "Poisoned in tenant a.": "failed",
            "Bees dance.": "indexed",
            "Owls hunt at night.": "indexed",
            "Ferns like shade.": "indexed",
        }
    assert vector_store.count(tenant="b") == 2 and vector_store.count(tenant="c") == 1


def test_a_memory_deleted_while_it_was_being_indexed_leaves_no_vector(vector_store: VectorStore) -> None:
    # Given a memory loaded for indexing (as the after-commit indexing of a PATCH loads it)
    (memory,) = stored("The heron waits.")
    (twin,) = stored("The heron waits.")
    loaded = list(Memory.objects.filter(pk=memory.pk).only(*INDEXED_COLUMNS))

    # When a DELETE commits (and removes its point) before the indexing upserts the vector
    memory_delete(memory=memory)
    summary = memories_index_loaded(memories=loaded)

    # Then the indexing takes the vector out again: the store holds no point of a deleted memory
    assert summary.skipped == 1 and summary.indexed == 0
    memories_index(ids=[twin.pk])
    assert list(vector_store.iter_ids()) == [str(twin.pk)]


FILTERS_REFUSED = [
    {"created_at": {"gte": "2025-02-30T00:00:00"}},
    {"created_at": {"lt": "2025-01-01T00:00:00+24:00"}},
    {"created_at": {"gt": "0001-01-01T00:00:00+01:00"}},
    {"n": {"gte": HUGE}},
    {"n": HUGE},
]


@pytest.mark.parametrize("filters", FILTERS_REFUSED)
@pytest.mark.parametrize("mode", ["vector", "keyword", "hybrid"])
def test_degraded_search_refuses_what_every_other_path_refuses(
    api: Any, store_down: Callable[[], VectorStore], filters: dict[str, Any], mode: str
) -> None:
    # Given the vector store down (search would answer from PostgreSQL full-text)
    stored("Degraded but strict.")
    store_down()

    # When a filter with an impossible date or a number beyond a double is searched with
    body = json.dumps({"query": "strict", "mode": mode, "filters": filters})
    response = api.post("/memories/search", raw=body)

    # Then it is the same 400 as on list and in the engine's modes
    assert (response.status_code, response.json()["code"]) == (400, "invalid_filter"), response.content
    listed = api.get("/memories", {"filters": json.dumps(filters)})
    assert (listed.status_code, listed.json()["code"]) == (400, "invalid_filter")


def test_degraded_search_pages_over_ties_in_id_order(api: Any, store_down: Callable[[], VectorStore]) -> None:
    # Given eight memories of one text and the vector store down
    memories = stored(*["identical twin sentence"] * 8)
    store_down()

    # When they are paged three at a time
    seen = []
    for offset in (0, 3, 6):
        response = api.post("/memories/search", {"query": "identical twin sentence", "top_k": 3, "offset": offset})
        assert response.json()["degraded"] is True
        seen += [hit["id"] for hit in response.json()["memories"]]

    # Then each comes once, in id order (the same order the engine's modes use)
    assert seen == sorted(str(memory.pk) for memory in memories)
    assert Memory.objects.filter(vector_status=VectorStatus.INDEXED).count() == 0
