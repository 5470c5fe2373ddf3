"""Indexing (vectors.services.indexing): embed, upsert, mark; failures, retries, point removal."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

import pytest
from django.test import override_settings

from memories.columns import INDEXED_COLUMNS
from memories.filters import parse_filters
from memories.models import Memory
from memories.services.update import memory_update
from tests_support.factories import statuses, stored
from vectors import metrics
from vectors.runtime import texts_embed, vector_store_ready
from vectors.selectors import memory_search
from vectors.services.indexing import memories_index, memories_index_loaded, points_delete
from vectors.stores.base import VectorStore

pytestmark = pytest.mark.django_db


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
    stale = Memory.objects.only(*INDEXED_COLUMNS).get(pk=memory.pk)
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


@override_settings(SOMA_VECTOR_INDEXED_KEYS={"user_id": "keyword"})
def test_filters_on_indexed_keys_still_match(vector_store: VectorStore):
    mine, _ = stored("Mine.", "Theirs.")
    Memory.objects.filter(pk=mine.pk).update(metadata={"user_id": "u1"})
    memories_index(ids=list(Memory.objects.values_list("pk", flat=True)))

    hits = memory_search(tenant="default", query="whose", conditions=parse_filters({"user_id": "u1"})).hits

    assert [memory.pk for memory, _ in hits] == [mine.pk]
