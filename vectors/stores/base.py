"""The vector-store interface both stores implement, and what they share."""

from __future__ import annotations

import abc
import contextlib
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, TypedDict, Unpack

import numpy as np

from vectors.sparse import SparseTerms
from vectors.stores.filters import (
    EQ_FIELD,
    SCOPE_FIELD,
    FilterCondition,
    FilterNode,
    compile_filter,
    equality_tokens,
    scope_value,
)

DEFAULT_DIMENSION = 384
# Rescoring 2×limit int8 candidates gave recall@10 = 1.0 against exact search at 100k.
OVERSAMPLING = 2.0
# Bumped whenever the collection's layout changes, so an existing store is never read with the
# wrong layout: `reindex --dirty` (or the embedded sweeper) fills the new one. 2 = dense + BM25
# sparse vector + eq_keys; 3 = + the tenant-indexed `scope` field, float16 in the embedded engine.
LAYOUT_VERSION = 3


class Scope(TypedDict, total=False):
    """Where a search looks within its tenant: one namespace, one memory type, and the
    payload/metadata conditions of the filter grammar (memories.filters). Unset: everywhere."""

    namespace: str | None
    memory_type: str | None
    conditions: Sequence[FilterCondition]


class VectorStoreError(Exception):
    """The engine or the network failed; callers degrade (e.g. to full-text search)."""


@contextlib.contextmanager
def engine_errors(action: str) -> Iterator[None]:
    try:
        yield
    except VectorStoreError:
        raise
    except Exception as exc:
        raise VectorStoreError(f"vector store {action} failed: {exc}") from exc


@dataclass
class VectorPoint:
    id: str
    vector: Sequence[float]
    tenant: str
    namespace: str
    memory_type: str
    created_ts: float
    payload: dict[str, Any] = field(default_factory=dict)
    metadata: dict[str, Any] = field(default_factory=dict)
    # BM25 term weights of the same text (vectors.sparse); None or empty = dense only.
    sparse: SparseTerms | None = None

    def engine_payload(self) -> dict[str, Any]:
        # Qdrant holds only what searches filter on; PostgreSQL stays the truth.
        keys = ("tenant", "namespace", "memory_type", "payload", "metadata")
        tokens = equality_tokens(self.payload, self.metadata)
        extra = {
            "created_ts": float(self.created_ts),
            EQ_FIELD: tokens,
            SCOPE_FIELD: scope_value(self.tenant, self.namespace),
        }
        return {k: getattr(self, k) for k in keys} | extra


def collection_name_for(*, model_name: str, dimension: int) -> str:
    return f"soma_{model_name.lower()}_{dimension}_layout{LAYOUT_VERSION}"


def normalize_id(point_id: str | uuid.UUID) -> str:
    """Canonical lowercase UUID string; Qdrant takes only UUIDs or integers as ids."""
    return str(uuid.UUID(str(point_id)))


# --- the interface ----------------------------------------------------------------


class VectorStore(abc.ABC):
    # (last flush window on disk, first window of this process): writes between the two may be
    # lost (vectors.stores.edge_flush). A server keeps its own durability: nothing is ever lost.
    lost_windows: tuple[int, int] = (0, 0)

    def __init__(self, *, dimension: int, model_name: str) -> None:
        self.dimension = dimension
        self.model_name = model_name
        self.collection_name = collection_name_for(model_name=model_name, dimension=dimension)

    @abc.abstractmethod
    def ensure_collection(self) -> None:
        """Create the collection and its payload indexes if missing (idempotent)."""

    @abc.abstractmethod
    def recreate(self) -> None:
        """Drop every point and start an empty collection (a full reindex follows)."""

    @abc.abstractmethod
    def healthy(self) -> bool: ...

    @abc.abstractmethod
    def close(self) -> None: ...

    @abc.abstractmethod
    def _field_indexes_create(self, wanted: dict[str, str]) -> list[str]:
        """Create the missing field indexes of `wanted` (name -> kind); returns those created."""

    @abc.abstractmethod
    def _upsert(self, points: Sequence[VectorPoint]) -> int | None: ...

    @abc.abstractmethod
    def _delete(self, ids: list[str]) -> None: ...

    @abc.abstractmethod
    def _query(
        self, vector: list[float], must: list[FilterNode], *, limit: int, offset: int
    ) -> list[tuple[str, float]]: ...

    @abc.abstractmethod
    def _query_sparse(
        self, terms: SparseTerms, must: list[FilterNode], *, limit: int, offset: int
    ) -> list[tuple[str, float]]: ...

    def _query_both(
        self, vector: list[float], terms: SparseTerms, must: list[FilterNode], *, limit: int
    ) -> tuple[list[tuple[str, float]], list[tuple[str, float]]]:
        """The dense and the BM25 top `limit`; a store whose engine batches does both in one call."""
        return self._query(vector, must, limit=limit, offset=0), self._query_sparse(terms, must, limit=limit, offset=0)

    @abc.abstractmethod
    def _count(self, must: list[FilterNode]) -> int: ...

    @abc.abstractmethod
    def _scroll(self, must: list[FilterNode], *, offset: Any, limit: int) -> tuple[list[str], Any]: ...

    def payload_indexes_ensure(self, *, keys: dict[str, str]) -> list[str]:
        """Field indexes on payload.<key> and metadata.<key> (key -> keyword, integer, float, bool or datetime: SOMA_VECTOR_INDEXED_KEYS):
        without one, a filter on that key makes the engine read every payload of the tenant
        (~200 ms at 100k points). Returns the fields created."""
        wanted = {f"{root}.{key}": kind for key, kind in keys.items() for root in ("payload", "metadata")}
        return self._field_indexes_create(wanted) if wanted else []

    def upsert(self, points: Sequence[VectorPoint]) -> int:
        """The flush window that makes these points durable (vectors.stores.edge_flush); 0 = they already are."""
        return (self._upsert(points) or 0) if points else 0

    def delete(self, ids: Sequence[str]) -> None:
        if ids:
            self._delete([normalize_id(i) for i in ids])

    def search(
        self,
        vector: Sequence[float],
        *,
        tenant: str,
        limit: int = 10,
        offset: int = 0,
        **scope: Unpack[Scope],
    ) -> list[tuple[str, float]]:
        """(id, cosine score) pairs, best first; the filter runs inside the engine."""
        must = _search_filter(tenant, scope, limit, offset)
        return self._query(self._vector(vector), must, limit=limit, offset=offset)

    def search_sparse(
        self,
        terms: SparseTerms,
        *,
        tenant: str,
        limit: int = 10,
        offset: int = 0,
        **scope: Unpack[Scope],
    ) -> list[tuple[str, float]]:
        """(id, BM25 score) pairs, best first, IDF from the engine; none for an empty query."""
        must = _search_filter(tenant, scope, limit, offset)
        if not terms:
            return []
        return self._query_sparse(terms, must, limit=limit, offset=offset)

    def search_both(
        self,
        vector: Sequence[float],
        terms: SparseTerms,
        *,
        tenant: str,
        limit: int = 10,
        **scope: Unpack[Scope],
    ) -> tuple[list[tuple[str, float]], list[tuple[str, float]]]:
        """What `search` and `search_sparse` answer for the same scope and limit, in one engine
        call where the engine batches (hybrid search fuses the two lists itself)."""
        must = _search_filter(tenant, scope, limit, 0)
        if not terms:
            return self._query(self._vector(vector), must, limit=limit, offset=0), []
        return self._query_both(self._vector(vector), terms, must, limit=limit)

    def count(self, *, tenant: str | None = None) -> int:
        return self._count(compile_filter(tenant=tenant))

    def iter_ids(self, *, tenant: str | None = None, batch: int = 1000) -> Iterator[str]:
        must, offset = compile_filter(tenant=tenant), None
        while True:
            ids, offset = self._scroll(must, offset=offset, limit=batch)
            yield from ids
            if offset is None:
                return

    def _vector(self, vector: Sequence[float]) -> list[float]:
        values: list[float] = np.asarray(vector, dtype=np.float32).ravel().tolist()
        if len(values) != self.dimension:
            raise ValueError(f"expected {self.dimension} dimensions, got {len(values)}")
        return values


def _search_filter(tenant: str, scope: Scope, limit: int, offset: int) -> list[FilterNode]:
    if limit < 1 or offset < 0:
        raise ValueError("limit must be >= 1 and offset >= 0")
    return compile_filter(
        tenant=tenant,
        namespace=scope.get("namespace"),
        memory_type=scope.get("memory_type"),
        conditions=scope.get("conditions", ()),
    )
