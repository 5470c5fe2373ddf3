"""Drift (vectors.services.drift): memories missing from the store, orphan points."""

from __future__ import annotations

import pytest
from django.db import connection

from memories.models import Memory, VectorStatus
from tests_support.factories import stored
from vectors.backend import vector_collection_name
from vectors.services.drift import vectors_drift
from vectors.services.indexing import memories_index
from vectors.services.maintenance import (
    vectors_fix,
)
from vectors.stores.base import VectorStore

pytestmark = pytest.mark.django_db


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


def test_a_memory_marked_indexed_but_absent_from_the_store_is_missing(vector_store: VectorStore):
    # Given two memories indexed into the current collection, one of whose points is then lost
    present, lost = stored("Present.", "Marked but absent.")
    memories_index(ids=[present.pk, lost.pk])
    vector_store.delete([str(lost.pk)])
    # Its row still says indexed, into this very collection: only the missing point can tell
    assert Memory.objects.filter(
        pk=lost.pk, vector_status=VectorStatus.INDEXED, vector_model=vector_collection_name()
    ).exists()

    drift = vectors_drift()

    assert [(d.tenant, d.memories, d.points, d.missing, d.orphans) for d in drift] == [
        ("default", 2, 1, [str(lost.pk)], [])
    ]


def test_a_memory_indexed_into_another_collection_is_missing(vector_store: VectorStore):
    # Given a memory whose point is in the store, but whose row names another model's collection
    memory = stored("Indexed by another model.")[0]
    memories_index(ids=[memory.pk])
    Memory.objects.filter(pk=memory.pk).update(vector_model="soma_other-model_384_layout3")

    drift = vectors_drift()

    # Then it is missing (to be indexed with this model) though its point is there
    assert [(d.tenant, d.memories, d.points, d.missing, d.orphans) for d in drift] == [
        ("default", 1, 1, [str(memory.pk)], [])
    ]
