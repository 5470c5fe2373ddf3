"""Maintenance (vectors.services.maintenance): reindex, the maintenance lock, fix, crash recovery."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from django.db import connection

from memories.models import Memory, VectorStatus
from memories.services.create import MemoryDraft, memory_batch_upsert
from tests_support.factories import statuses, stored
from vectors.backend import embedding_model_name, reset_vector_store
from vectors.services.indexing import memories_index
from vectors.services.maintenance import (
    MAINTENANCE_LOCK_KEY,
    MaintenanceBusy,
    maintenance_lock,
    memories_reindex,
    points_recover,
)
from vectors.stores.base import VectorStore
from vectors.stores.edge import EdgeStore
from vectors.tests.conftest import install

pytestmark = pytest.mark.django_db


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


@pytest.fixture
def own_stores() -> Iterator[None]:
    yield
    reset_vector_store(None)  # the next test gets the store the settings name


@pytest.mark.django_db
@pytest.mark.usefixtures("own_stores")
def test_memories_indexed_after_the_last_flush_are_recovered_and_reindexed(tmp_path: Path) -> None:
    root = tmp_path / "qdrant"
    model = embedding_model_name()
    store = install(EdgeStore(root, model_name=model, flush_interval=3600))
    drafts = [MemoryDraft(payload={"content": f"memory number {n}"}) for n in range(4)]
    ids = [result.memory_id for result in memory_batch_upsert(tenant="default", drafts=drafts)]
    memories_index(ids=ids[:2])
    store.close()  # flushed: these two are durable
    shutil.copytree(root, tmp_path / "backup")
    store = install(EdgeStore(root, model_name=model, flush_interval=3600))
    memories_index(ids=ids[2:])
    windows = dict(Memory.objects.values_list("id", "vector_epoch"))
    store.close()
    shutil.rmtree(root)
    shutil.copytree(tmp_path / "backup", root)  # as if the last two never reached the disk
    store = install(EdgeStore(root, model_name=model, flush_interval=3600))
    assert store.count() == 2
    assert all(windows[i] > 0 for i in ids)

    # When the store opens, the memories written after its last flush are pending again
    assert points_recover() == 2
    assert points_recover() == 0  # idempotent
    statuses = dict(Memory.objects.values_list("id", "vector_status"))
    assert [statuses[i] for i in ids] == [VectorStatus.INDEXED] * 2 + [VectorStatus.PENDING] * 2

    # And the sweep puts them back in the store
    summary = memories_reindex(dirty=True)
    assert (summary.indexed, summary.failed) == (2, 0)
    assert store.count() == 4
    assert set(Memory.objects.values_list("vector_status", flat=True)) == {VectorStatus.INDEXED}
    store.close()
