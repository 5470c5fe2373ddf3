"""Maintenance of the vector store: reindex, the sweep, `vectors_check --fix`, crash recovery."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator, Sequence
from typing import Any

from django.db import connection

from memories.columns import INDEXED_COLUMNS
from memories.models import Memory, VectorStatus
from vectors import metrics
from vectors.backend import get_vector_store, vector_collection_name
from vectors.runtime import keys_ensured, store_cooldown, vector_store_ready
from vectors.services.drift import TenantDrift
from vectors.services.indexing import (
    DEFAULT_BATCH_SIZE,
    IndexSummary,
    memories_index,
    memories_index_loaded,
)

logger = logging.getLogger("soma.vectors")

# pg_advisory_lock key shared by reindex, vectors_check --fix and the sweeper ("SOMAREIX").
MAINTENANCE_LOCK_KEY = 0x534F4D41_52454958


# Memories marked indexed by a write of a flush window the embedded engine may have lost
# (vectors.stores.edge_flush): after the store's last durable window and before its first of this run.
_RECOVER_SQL = """
UPDATE memories_memory SET vector_status = 'pending', vector_epoch = 0
WHERE vector_epoch > %s AND vector_epoch < %s AND vector_status = 'indexed'
"""


def points_recover() -> int:
    """Make pending again the memories whose vectors the embedded engine may have lost in a
    crash (written after its last flush); the sweep indexes them. Idempotent; 0 for a server."""
    store = get_vector_store()
    durable, first = store.lost_windows
    if first <= durable + 1:
        return 0
    with connection.cursor() as cursor:
        cursor.execute(_RECOVER_SQL, [durable, first])
        count = cursor.rowcount
    if count:
        logger.warning("%d memories were indexed after the vector store's last flush: indexing them again", count)
    return int(count)


def memories_to_index(*, tenant: str | None = None, namespace: str | None = None, dirty: bool = False) -> Any:
    # Dirty: pending, failed, or indexed into another collection (another model or layout), so
    # after such a change the sweep and `reindex --dirty` rebuild everything.
    if dirty:
        queryset = Memory.objects.exclude(vector_status=VectorStatus.INDEXED, vector_model=vector_collection_name())
    else:
        queryset = Memory.objects.all()
    if tenant is not None:
        queryset = queryset.filter(tenant=tenant)
    if namespace is not None:
        queryset = queryset.filter(namespace=namespace)
    return queryset


def memories_reindex(
    *,
    tenant: str | None = None,
    namespace: str | None = None,
    dirty: bool = False,
    batch_size: int = DEFAULT_BATCH_SIZE,
    progress: Any = None,
) -> IndexSummary:
    """Index every memory in scope, `batch_size` per embedding call and upsert.

    `progress(n)` is called after each batch with the number of memories it handled.
    """
    summary = IndexSummary()
    if dirty:
        points_recover()
    queryset = memories_to_index(tenant=tenant, namespace=namespace, dirty=dirty).only(*INDEXED_COLUMNS).order_by()
    batch: list[Memory] = []
    for memory in queryset.iterator(chunk_size=batch_size):
        batch.append(memory)
        if len(batch) >= batch_size:
            summary.add(memories_index_loaded(memories=batch))
            if progress is not None:
                progress(len(batch))
            batch = []
    if batch:
        summary.add(memories_index_loaded(memories=batch))
        if progress is not None:
            progress(len(batch))
    return summary


class MaintenanceBusy(Exception):
    """Another reindex / vectors_check --fix / sweep holds the maintenance lock."""


@contextlib.contextmanager
def maintenance_lock() -> Iterator[None]:
    """A PostgreSQL session lock, so two maintenance runs (any process, any host) never overlap."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_try_advisory_lock(%s)", [MAINTENANCE_LOCK_KEY])
        (acquired,) = cursor.fetchone()
    if not acquired:
        raise MaintenanceBusy("another reindex is running")
    try:
        yield
    finally:
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_unlock(%s)", [MAINTENANCE_LOCK_KEY])


def points_recreate() -> None:
    store = get_vector_store()
    store.recreate()
    keys_ensured.discard(store)
    store_cooldown.clear()


def vectors_fix(*, drift: Sequence[TenantDrift], batch_size: int = DEFAULT_BATCH_SIZE) -> IndexSummary:
    """Index the missing memories and delete the orphan points. Raises VectorStoreError on a delete failure."""
    summary = IndexSummary()
    missing = [memory_id for tenant in drift for memory_id in tenant.missing]
    orphans = [point_id for tenant in drift for point_id in tenant.orphans]
    if missing:
        summary.add(memories_index(ids=missing, batch_size=batch_size))
    store = vector_store_ready()
    for start in range(0, len(orphans), 1000):
        chunk = orphans[start : start + 1000]
        store.delete(chunk)
        metrics.VECTOR_DELETES.inc(len(chunk))
    return summary
