"""Writes to the vector store: indexing after commit and point removal.

PostgreSQL is the truth and `Memory.vector_status` says whether the store agrees. Nothing here
raises into a request: a failure marks the memories `failed` (with a short reason), and the
sweep (`reindex --dirty`, the embedded server's sweeper thread) tries again.
"""

from __future__ import annotations

import contextlib
import logging
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from django.db import connection

from memories.columns import INDEXED_COLUMNS
from memories.models import Memory, VectorStatus
from memories.values import unrepresentable_number
from vectors import metrics
from vectors.backend import get_vector_store
from vectors.embedding import EmbeddingError
from vectors.runtime import COOLDOWN_MARK, store_cooldown, texts_embed, vector_store_ready
from vectors.sparse import bm25_document
from vectors.stores.base import VectorPoint, VectorStoreError

logger = logging.getLogger("soma.vectors")

DEFAULT_BATCH_SIZE = 256
# Rows updated while we embedded them are indexed again with their new text, at most this often.
MAX_INDEX_PASSES = 3


@dataclass
class IndexSummary:
    requested: int = 0
    indexed: int = 0
    failed: int = 0
    # Gone from PostgreSQL before they could be indexed (deleted meanwhile).
    skipped: int = 0
    embedded: int = 0  # texts the model ran on; the rest came from the embedding cache
    errors: list[str] = field(default_factory=list)

    def add(self, other: IndexSummary) -> None:
        self.requested += other.requested
        self.indexed += other.indexed
        self.failed += other.failed
        self.skipped += other.skipped
        self.embedded += other.embedded
        self.errors.extend(error for error in other.errors if error not in self.errors)


def memory_point(*, memory: Memory, vector: Sequence[float]) -> VectorPoint:
    return VectorPoint(
        id=str(memory.pk),
        vector=vector,
        tenant=memory.tenant,
        namespace=memory.namespace,
        memory_type=memory.memory_type,
        created_ts=memory.created_at.timestamp(),
        payload=memory.payload if isinstance(memory.payload, dict) else {},
        metadata=memory.metadata if isinstance(memory.metadata, dict) else {},
        sparse=bm25_document(memory.text),
    )


def memories_index(
    *, ids: Iterable[uuid.UUID | str], batch_size: int = DEFAULT_BATCH_SIZE, release_connection: bool = False
) -> IndexSummary:
    """Embed and upsert these memories (one query loads them), then mark them indexed.

    Never raises: a failing embedder or store marks the batch `failed`. `release_connection`
    returns a pooled database connection to the pool while the model and the store work.
    """
    wanted = list(dict.fromkeys(str(memory_id) for memory_id in ids))
    summary = IndexSummary(requested=len(wanted))
    for start in range(0, len(wanted), batch_size):
        chunk = wanted[start : start + batch_size]
        memories = list(Memory.objects.filter(pk__in=chunk).only(*INDEXED_COLUMNS))
        summary.skipped += len(chunk) - len(memories)
        part = memories_index_loaded(memories=memories, release_connection=release_connection)
        part.requested = 0
        summary.add(part)
    return summary


def memories_index_stored(
    *, memories: Sequence[Memory], batch_size: int = DEFAULT_BATCH_SIZE, release_connection: bool = False
) -> IndexSummary:
    """`memories_index` for rows the write already holds (as stored): nothing is loaded again."""
    summary = IndexSummary()
    for start in range(0, len(memories), batch_size):
        chunk = memories[start : start + batch_size]
        summary.add(memories_index_loaded(memories=chunk, release_connection=release_connection))
    return summary


def memories_index_loaded(*, memories: Sequence[Memory], release_connection: bool = False) -> IndexSummary:
    """Index memories already loaded with INDEXED_COLUMNS: one embedding call, one upsert, one UPDATE."""
    summary = IndexSummary(requested=len(memories))
    pending = list(memories)
    for _ in range(MAX_INDEX_PASSES):
        if not pending:
            break
        changed = _index_once(pending, summary, release_connection=release_connection)
        # Edited while we embedded them: the store may hold the old text if our upsert landed
        # after the editor's own indexing, so index the new version once more.
        pending = list(Memory.objects.filter(pk__in=changed).only(*INDEXED_COLUMNS)) if changed else []
        gone = set(changed) - {memory.pk for memory in pending}
        summary.skipped += len(gone)
        if gone:
            # Deleted while we embedded them: the DELETE's own point removal may have run before
            # our upsert, which then put the vector back. Take it out again.
            points_delete(ids=sorted(gone, key=str))
    return summary


# Checked before anything is sent: the engine takes numbers as doubles, and one such memory
# must not fail the rest of its batch (the API refuses them; older rows may hold them).
UNREPRESENTABLE = "payload or metadata holds a number the vector store cannot represent"


def _unindexable(memory: Memory) -> bool:
    return unrepresentable_number(memory.payload) is not None or unrepresentable_number(memory.metadata) is not None


def _index_once(memories: list[Memory], summary: IndexSummary, *, release_connection: bool) -> list[uuid.UUID]:
    """Returns the ids whose row changed meanwhile (neither marked indexed nor failed)."""
    changed: list[uuid.UUID] = []
    if poisoned := [memory for memory in memories if _unindexable(memory)]:
        marked = _mark(poisoned, status=VectorStatus.FAILED, model="", error=UNREPRESENTABLE)
        summary.failed += len(marked)
        if UNREPRESENTABLE not in summary.errors:
            summary.errors.append(UNREPRESENTABLE)
        changed = [memory.pk for memory in poisoned if memory.pk not in marked]
        poisoned_ids = {memory.pk for memory in poisoned}
        memories = [memory for memory in memories if memory.pk not in poisoned_ids]
        if not memories:
            return changed
    if release_connection:
        _release_pooled_connection()
    try:
        store = vector_store_ready()
        vectors, computed = texts_embed(texts=[memory.text for memory in memories])
        summary.embedded += computed
        window = store.upsert([memory_point(memory=m, vector=v) for m, v in zip(memories, vectors, strict=True)])
    except Exception as exc:
        if len(memories) > 1 and not isinstance(exc, VectorStoreError | EmbeddingError):
            # A point the store could not even build (not an outage): one at a time, so only the
            # culprit fails. The embeddings come from the cache the first attempt filled.
            for memory in memories:
                changed += _index_once([memory], summary, release_connection=False)
            return changed
        operation = "upsert" if isinstance(exc, VectorStoreError) else "embed"
        reason = _short_error(exc)
        metrics.VECTOR_FAILURES.labels(operation=operation).inc()
        if isinstance(exc, VectorStoreError) and COOLDOWN_MARK not in reason:
            with contextlib.suppress(Exception):
                store_cooldown.failed(get_vector_store(), reason)
        logger.warning("indexing %d memories failed: %s", len(memories), reason)
        marked = _mark(memories, status=VectorStatus.FAILED, model="", error=reason)
        summary.failed += len(marked)
        for memory in memories:
            if memory.pk in marked:
                memory.vector_status, memory.vector_model, memory.vector_error = VectorStatus.FAILED, "", reason[:500]
        if reason not in summary.errors:
            summary.errors.append(reason)
        return changed + [memory.pk for memory in memories if memory.pk not in marked]
    metrics.VECTOR_UPSERTS.inc(len(memories))
    # The collection the vectors went to (model, dimension, layout), not just the model's name.
    marked = _mark(memories, status=VectorStatus.INDEXED, model=store.collection_name, error="", window=window)
    summary.indexed += len(marked)
    for memory in memories:
        if memory.pk in marked:  # the instances the caller holds say what the row says
            memory.vector_status, memory.vector_model, memory.vector_error = (
                VectorStatus.INDEXED,
                store.collection_name,
                "",
            )
            memory.vector_epoch = window
    return changed + [memory.pk for memory in memories if memory.pk not in marked]


def _release_pooled_connection() -> None:
    """Hand the request's pooled connection back while the slow outside work runs.

    After a write commits, the request would otherwise hold its connection through the
    embedding (~0.3 s per 100 texts per core): 20 concurrent batch writes then exhausted a
    10-connection pool. The next query takes a connection from the pool again.
    """
    pooled = bool(connection.settings_dict.get("OPTIONS", {}).get("pool"))
    if pooled and not connection.in_atomic_block and connection.connection is not None:
        connection.close()


# Only rows still at the version we embedded: a row edited meanwhile stays pending for its
# own indexing (or our next pass) instead of being marked with a vector of its old text.
# SKIP LOCKED, in id order: marking never waits, so it never deadlocks with a writer or another
# marker; a row it skips is being written (its writer indexes it) or marked (our next pass).
_MARK_SQL = """
WITH v(id, updated_at) AS (VALUES {rows}),
target AS (
    SELECT m.id FROM memories_memory AS m JOIN v ON m.id = v.id AND m.updated_at = v.updated_at
    ORDER BY m.id
    FOR UPDATE OF m SKIP LOCKED
)
UPDATE memories_memory AS m
SET vector_status = %s, vector_model = %s, vector_error = %s, vector_epoch = %s
FROM target
WHERE m.id = target.id
RETURNING m.id
"""


def _mark(memories: Sequence[Memory], *, status: str, model: str, error: str, window: int = 0) -> set[uuid.UUID]:
    if not memories:
        return set()
    params: list[Any] = []
    for memory in memories:
        params.extend([memory.pk, memory.updated_at])
    params.extend([status, model, error[:500], window])
    rows = ", ".join(["(%s::uuid, %s::timestamptz)"] * len(memories))
    with connection.cursor() as cursor:
        cursor.execute(_MARK_SQL.format(rows=rows), params)
        return {row[0] for row in cursor.fetchall()}


def _short_error(exc: Exception) -> str:
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text[:300]


def points_delete(*, ids: Sequence[uuid.UUID | str]) -> bool:
    """Remove points; False (logged) when the store fails: `vectors_check --fix` removes orphans."""
    if not ids:
        return True
    try:
        vector_store_ready().delete([str(memory_id) for memory_id in ids])
    except Exception as exc:
        metrics.VECTOR_FAILURES.labels(operation="delete").inc()
        logger.warning("deleting %d points failed (orphans until vectors_check --fix): %s", len(ids), exc)
        return False
    metrics.VECTOR_DELETES.inc(len(ids))
    return True
