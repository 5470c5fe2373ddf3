from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

import psycopg
import pytest
from django.db import connection
from django.test import override_settings

from memories.filters import parse_filters
from memories.models import Memory, VectorStatus
from memories.services.create import MemoryDraft, memory_batch_upsert
from memories.services.update import memory_update
from vectors import metrics
from vectors.runtime import payload_indexes_ensure, texts_embed, vector_store_ready
from vectors.selectors import memory_search
from vectors.services import (
    INDEX_FIELDS,
    MAINTENANCE_LOCK_KEY,
    MaintenanceBusy,
    maintenance_lock,
    memories_index,
    memories_index_loaded,
    memories_reindex,
    points_delete,
    vectors_drift,
    vectors_fix,
)
from vectors.stores import VectorStore

pytestmark = pytest.mark.django_db


def stored(*texts: str, tenant: str = "default", namespace: str = "default") -> list[Memory]:
    """Memories written without running the after-commit indexing: they stay pending."""
    drafts = [MemoryDraft(payload={"content": text}, namespace=namespace) for text in texts]
    ids = [result.memory_id for result in memory_batch_upsert(tenant=tenant, drafts=drafts)]
    by_id = Memory.objects.in_bulk(ids)
    return [by_id[memory_id] for memory_id in ids]


def statuses() -> dict[str, str]:
    return dict(Memory.objects.values_list("text", "vector_status"))


def test_index_loads_embeds_upserts_and_marks_in_few_queries(
    vector_store: VectorStore, django_assert_num_queries: Callable[..., Any]
):
    memories = stored("Alpha wolves lead packs.", "Beta testers find bugs.")
    vector_store_ready()  # the store is opened once per process, not per call

    # load + mark
    with django_assert_num_queries(2):
        summary = memories_index(ids=[memory.pk for memory in memories] + [uuid.uuid4()])

    assert (summary.requested, summary.indexed, summary.failed, summary.skipped, summary.embedded) == (3, 2, 0, 1, 2)
    assert set(statuses().values()) == {"indexed"}
    assert vector_store.count(tenant="default") == 2


def test_embeddings_are_cached_by_text(vector_store: VectorStore):
    first = stored("Identical text.")[0]
    memories_index(ids=[first.pk])
    second = stored("Identical text.", tenant="other")[0]

    summary = memories_index(ids=[second.pk])

    assert (summary.indexed, summary.embedded) == (1, 0)
    vectors, computed = texts_embed(texts=["Identical text.", "Identical text."])
    assert computed == 0
    assert vectors.shape == (2, 384)


def test_a_row_edited_while_being_indexed_is_indexed_again_with_its_new_text(vector_store: VectorStore):
    # Given a memory loaded for indexing, then edited before the indexing marks it
    memory = stored("The old text about apples.")[0]
    stale = Memory.objects.only(*INDEX_FIELDS).get(pk=memory.pk)
    memory_update(memory=memory, text="The new text about volcanoes.")

    # When the stale copy is indexed
    summary = memories_index_loaded(memories=[stale])

    # Then the second pass indexed the new text, and the store holds the new vector
    assert (summary.indexed, summary.failed) == (1, 0)
    hits = memory_search(tenant="default", query="The new text about volcanoes.", top_k=1).hits
    assert [(m.pk, round(score, 2)) for m, score in hits] == [(memory.pk, 1.0)]


def test_a_store_failure_marks_failed_and_cools_down(store_down: Callable[[], VectorStore]):
    memories = stored("One.", "Two.")
    store_down()

    summary = memories_index(ids=[memory.pk for memory in memories])
    again = memories_index(ids=[memories[0].pk])

    assert (summary.indexed, summary.failed) == (0, 2)
    assert "Connection refused" in summary.errors[0]
    # The second attempt did not wait for the network: the store is cooling down.
    assert again.errors[0].startswith("vector store unavailable (retrying shortly)")
    assert set(statuses().values()) == {"failed"}


def test_deleting_points_on_a_down_store_reports_false(store_down: Callable[[], VectorStore]):
    store_down()
    failures = metrics.VECTOR_FAILURES.labels(operation="delete")._value.get()

    assert points_delete(ids=[uuid.uuid4()]) is False
    assert metrics.VECTOR_FAILURES.labels(operation="delete")._value.get() == failures + 1


def test_reindex_covers_its_scope_only(vector_store: VectorStore):
    stored("In scope.", tenant="a", namespace="n1")
    stored("Other namespace.", tenant="a", namespace="n2")
    stored("Other tenant.", tenant="b", namespace="n1")
    seen: list[int] = []

    summary = memories_reindex(tenant="a", namespace="n1", batch_size=1, progress=seen.append)

    assert (summary.indexed, seen) == (1, [1])
    assert statuses() == {"In scope.": "indexed", "Other namespace.": "pending", "Other tenant.": "pending"}


def test_the_maintenance_lock_is_exclusive_across_sessions():
    settings_dict = connection.settings_dict
    other = psycopg.connect(
        dbname=settings_dict["NAME"],
        user=settings_dict["USER"],
        password=settings_dict["PASSWORD"],
        host=settings_dict["HOST"],
        port=settings_dict["PORT"],
        autocommit=True,
    )
    try:
        other.execute("SELECT pg_advisory_lock(%s)", [MAINTENANCE_LOCK_KEY])
        with pytest.raises(MaintenanceBusy, match="another reindex is running"), maintenance_lock():
            pass
        other.execute("SELECT pg_advisory_unlock(%s)", [MAINTENANCE_LOCK_KEY])

        with maintenance_lock():
            taken = other.execute("SELECT pg_try_advisory_lock(%s)", [MAINTENANCE_LOCK_KEY]).fetchone()
        assert taken == (False,)
    finally:
        other.close()


def test_drift_lists_missing_and_orphans_per_tenant_and_fix_repairs(vector_store: VectorStore):
    indexed, gone_a = stored("Indexed.", "Deleted without a signal in a.", tenant="a")
    pending = stored("Never indexed.", tenant="a")[0]
    gone_b = stored("Deleted without a signal in b.", tenant="b")[0]
    memories_index(ids=[indexed.pk, gone_a.pk, gone_b.pk])
    Memory.objects.filter(pk__in=[gone_a.pk, gone_b.pk])._raw_delete(connection.alias)

    drift = vectors_drift()

    # Tenant b has no memory left, so its orphan's tenant is unknown (the store is asked per
    # tenant PostgreSQL knows).
    assert [(d.tenant, d.memories, d.points, d.missing, d.orphans) for d in drift] == [
        ("", 0, 1, [], [str(gone_b.pk)]),
        ("a", 2, 2, [str(pending.pk)], [str(gone_a.pk)]),
    ]

    summary = vectors_fix(drift=drift)

    assert summary.indexed == 1
    assert [(d.tenant, d.points, d.missing, d.orphans) for d in vectors_drift()] == [("a", 2, [], [])]
    assert sorted(vector_store.iter_ids()) == sorted([str(indexed.pk), str(pending.pk)])


def test_operator_keys_get_field_indexes_on_the_embedded_store(edge_store: Any):
    keys = {"user_id": "keyword", "score": "float"}

    created = payload_indexes_ensure(store=edge_store, keys=keys)
    again = payload_indexes_ensure(store=edge_store, keys=keys)

    assert sorted(created) == ["metadata.score", "metadata.user_id", "payload.score", "payload.user_id"]
    assert again == []
    with edge_store._using("info") as shard:
        assert set(created) <= set(shard.info().payload_schema)


@override_settings(SOMA_VECTOR_INDEXED_KEYS={"user_id": "keyword"})
def test_filters_on_indexed_keys_still_match(vector_store: VectorStore):
    mine, _ = stored("Mine.", "Theirs.")
    Memory.objects.filter(pk=mine.pk).update(metadata={"user_id": "u1"})
    memories_index(ids=list(Memory.objects.values_list("pk", flat=True)))

    hits = memory_search(tenant="default", query="whose", conditions=parse_filters({"user_id": "u1"})).hits

    assert [memory.pk for memory, _ in hits] == [mine.pk]


def test_a_memory_marked_indexed_but_absent_from_the_store_is_missing(vector_store: VectorStore):
    memory = stored("Marked but absent.")[0]
    Memory.objects.filter(pk=memory.pk).update(vector_status=VectorStatus.INDEXED, vector_model="all-MiniLM-L6-v2")

    assert [(d.tenant, d.missing) for d in vectors_drift()] == [("default", [str(memory.pk)])]
