from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import pytest
from django.db.models.signals import post_save
from django.test import override_settings

from memories.models import Memory, VectorStatus
from memories.services.create import MemoryDraft, memory_batch_upsert, memory_upsert
from memories.services.delete import memory_delete
from memories.services.update import memory_update
from vectors import metrics
from vectors.backend import embedding_model_name, reset_vector_store, vector_collection_name
from vectors.selectors import memory_search
from vectors.stores.base import VectorPoint, VectorStore
from vectors.stores.edge import EdgeStore

pytestmark = pytest.mark.django_db


def top(query: str, **scope: Any) -> list[str]:
    return [memory.text for memory, _ in memory_search(tenant="default", query=query, top_k=3, **scope).hits]


def test_a_new_memory_is_indexed_after_commit(vector_store: VectorStore, django_capture_on_commit_callbacks: Any):
    # Given a memory written in a transaction
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        memory, _ = memory_upsert(
            tenant="default", draft=MemoryDraft(payload={"content": "Penguins huddle for warmth."})
        )

        # Then nothing reaches the store before the commit
        assert Memory.objects.get(pk=memory.pk).vector_status == VectorStatus.PENDING
        assert vector_store.count(tenant="default") == 0

    # When the transaction commits
    for callback in callbacks:
        callback()

    # Then its point exists and the row says so
    memory.refresh_from_db()
    assert (memory.vector_status, memory.vector_model, memory.vector_error) == ("indexed", vector_collection_name(), "")
    assert list(vector_store.iter_ids(tenant="default")) == [str(memory.pk)]
    assert top("birds keeping warm together") == ["Penguins huddle for warmth."]


class CountingEdgeStore(EdgeStore):
    """The real embedded store, counting the upsert calls it receives."""

    upsert_calls: list[int]

    def upsert(self, points: Sequence[VectorPoint]) -> int:
        self.upsert_calls.append(len(points))
        return super().upsert(points)


def test_a_batch_is_embedded_and_upserted_in_batches(
    tmp_path: Path, django_capture_on_commit_callbacks: Any, edge_store: VectorStore
):
    store = CountingEdgeStore(tmp_path / "counting", model_name=embedding_model_name())
    store.upsert_calls = []
    reset_vector_store(store)
    drafts = [MemoryDraft(payload={"content": f"Fact number {i} about rivers."}) for i in range(300)]
    embeddings = metrics.EMBEDDINGS._value.get()
    batches = metrics.EMBED_SECONDS._sum.get(), sum(bucket.get() for bucket in metrics.EMBED_SECONDS._buckets)

    with django_capture_on_commit_callbacks(execute=True):
        results = memory_batch_upsert(tenant="default", drafts=drafts)

    assert store.upsert_calls == [256, 44]
    assert metrics.EMBEDDINGS._value.get() - embeddings == 300
    assert sum(bucket.get() for bucket in metrics.EMBED_SECONDS._buckets) - batches[1] == 2
    assert Memory.objects.filter(vector_status=VectorStatus.INDEXED).count() == 300
    assert store.count(tenant="default") == len(results) == 300


def test_changing_the_text_re_embeds(vector_store: VectorStore, django_capture_on_commit_callbacks: Any):
    with django_capture_on_commit_callbacks(execute=True):
        memory, _ = memory_upsert(tenant="default", draft=MemoryDraft(payload={"content": "The cat sat on the mat."}))
        memory_upsert(tenant="default", draft=MemoryDraft(payload={"content": "A kitten sleeps on the rug."}))

    with django_capture_on_commit_callbacks(execute=True):
        memory_update(memory=memory, text="Quarterly revenue grew by twelve percent.")

    memory.refresh_from_db()
    assert memory.vector_status == VectorStatus.INDEXED
    assert top("company earnings went up")[0] == "Quarterly revenue grew by twelve percent."
    assert top("a cat on a mat")[0] == "A kitten sleeps on the rug."


def test_moving_a_memory_updates_its_filter_fields(vector_store: VectorStore, django_capture_on_commit_callbacks: Any):
    with django_capture_on_commit_callbacks(execute=True):
        memory, _ = memory_upsert(
            tenant="default", draft=MemoryDraft(payload={"content": "Bees dance to share routes."})
        )
    with django_capture_on_commit_callbacks(execute=True):
        memory_update(memory=memory, memory_type="semantic", metadata={"topic": "insects"})

    assert top("bees", memory_type="semantic") == ["Bees dance to share routes."]
    assert top("bees", memory_type="episodic") == []


def test_a_deleted_memory_leaves_the_store(vector_store: VectorStore, django_capture_on_commit_callbacks: Any):
    with django_capture_on_commit_callbacks(execute=True):
        memory, _ = memory_upsert(tenant="default", draft=MemoryDraft(payload={"content": "Owls hunt at night."}))
    deletes = metrics.VECTOR_DELETES._value.get()

    with django_capture_on_commit_callbacks(execute=True):
        memory_delete(memory=memory)

    assert vector_store.count(tenant="default") == 0
    assert top("owls") == []
    assert metrics.VECTOR_DELETES._value.get() == deletes + 1


def test_raw_saves_and_state_only_saves_schedule_nothing(
    vector_store: VectorStore, django_capture_on_commit_callbacks: Any
):
    with django_capture_on_commit_callbacks(execute=True):
        memory, _ = memory_upsert(tenant="default", draft=MemoryDraft(payload={"content": "Moles dig tunnels."}))

    with django_capture_on_commit_callbacks() as callbacks:
        post_save.send(sender=Memory, instance=memory, created=False, raw=True, update_fields=None)
        memory.vector_error = "x"
        memory.save(update_fields=["vector_status", "vector_error"])

    assert callbacks == []


def test_an_embedder_failure_marks_the_memory_failed_and_the_write_succeeds(
    vector_store: VectorStore, django_capture_on_commit_callbacks: Any, tmp_path: Path
):
    # Given a model folder without a model: the embedder cannot load
    with override_settings(SOMA_EMBEDDING_MODEL_DIR=str(tmp_path)), django_capture_on_commit_callbacks(execute=True):
        memory, created = memory_upsert(tenant="default", draft=MemoryDraft(payload={"content": "Frogs croak."}))

    memory.refresh_from_db()
    assert created is True
    assert memory.vector_status == VectorStatus.FAILED
    assert memory.vector_error.startswith("embedding model file not found")
    assert vector_store.count(tenant="default") == 0


def test_a_store_failure_marks_the_memory_failed(
    django_capture_on_commit_callbacks: Any, store_down: Callable[[], VectorStore]
):
    store_down()
    failures = metrics.VECTOR_FAILURES.labels(operation="upsert")._value.get()

    with django_capture_on_commit_callbacks(execute=True):
        memory, _ = memory_upsert(tenant="default", draft=MemoryDraft(payload={"content": "Newts regrow limbs."}))

    memory.refresh_from_db()
    assert memory.vector_status == VectorStatus.FAILED
    assert "Connection refused" in memory.vector_error
    assert metrics.VECTOR_FAILURES.labels(operation="upsert")._value.get() == failures + 1


def test_post_memories_indexes_in_four_queries_and_answers_as_a_reload(
    vector_store: VectorStore, api: Any, django_capture_on_commit_callbacks: Any, django_assert_num_queries: Any
):
    api.post("/memories", {"payload": {"content": "warm-up"}})  # the store opened, keys ensured
    body = {"coord": "4,2", "payload": {"zeta": 1, "content": "Otters hold hands while sleeping.", "a": [1.5, True]}}

    # savepoint, upsert (RETURNING the row), release; after commit, the vector-state UPDATE only:
    # the indexing reuses the stored row instead of loading it again
    with django_assert_num_queries(4), django_capture_on_commit_callbacks(execute=True):
        response = api.post("/memories", {**body, "metadata": {"user_id": "u1"}})

    assert response.status_code == 200 and response.json()["created"] is True
    answer = response.json()
    reloaded = api.get("/memories/4,2").json()
    # (the test transaction runs the indexing after the answer; a server's commit, before it)
    assert answer["memory"] == {**reloaded["memory"], "vector_status": "pending"}
    assert reloaded["memory"]["vector_status"] == "indexed"
    assert list(answer["memory"]["payload"]) == list(reloaded["memory"]["payload"])  # jsonb's key order
    assert top("sea mammals sleep holding paws") == ["Otters hold hands while sleeping."]

    # And a replacement by coordinate keeps the first memory's id and creation time
    with django_assert_num_queries(4), django_capture_on_commit_callbacks(execute=True):
        again = api.post("/memories", {"coord": "4,2", "payload": {"content": "Otters use stones as tools."}})
    assert again.status_code == 200 and again.json()["created"] is False
    assert again.json()["memory"] == {**api.get("/memories/4,2").json()["memory"], "vector_status": "pending"}
    assert again.json()["memory"]["id"] == answer["memory"]["id"]
    assert again.json()["memory"]["created_at"] == answer["memory"]["created_at"]
    assert top("animals using tools") == ["Otters use stones as tools."]


def test_the_written_memory_says_what_its_indexing_recorded(
    vector_store: VectorStore, django_capture_on_commit_callbacks: Any
):
    with django_capture_on_commit_callbacks(execute=True):
        memory, created = memory_upsert(tenant="default", draft=MemoryDraft(payload={"content": "Owls fly silently."}))

    stored = Memory.objects.get(pk=memory.pk)
    assert created and memory.vector_status == stored.vector_status == VectorStatus.INDEXED
    assert (memory.vector_model, memory.vector_epoch) == (stored.vector_model, stored.vector_epoch)
    assert (memory.updated_at, memory.created_at, memory.text) == (stored.updated_at, stored.created_at, stored.text)
