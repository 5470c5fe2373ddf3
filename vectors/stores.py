"""One vector-store interface over embedded Qdrant (qdrant-edge-py) and a Qdrant server."""

from __future__ import annotations

import abc
import contextlib
import json
import shutil
import threading
import time
import uuid
from collections import OrderedDict
from collections.abc import Hashable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import qdrant_edge as qe

from vectors.engine_filters import (
    EQ_FIELD,
    RANGE_OPS,
    SCOPE_FIELD,
    FilterCondition,
    FilterNode,
    compile_filter,
    equality_tokens,
    scope_value,
)
from vectors.sparse import SPARSE_VECTOR_NAME, SparseTerms

if TYPE_CHECKING:
    from vectors.client_store import ClientStore

__all__ = [
    "RANGE_OPS",
    "ClientStore",
    "EdgeStore",
    "FilterCondition",
    "VectorPoint",
    "VectorStore",
    "VectorStoreError",
    "collection_name_for",
    "compile_filter",
]

DEFAULT_DIMENSION = 384
# Rescoring 2×limit int8 candidates gave recall@10 = 1.0 against exact search at 100k.
OVERSAMPLING = 2.0
# Bumped whenever the collection's layout changes, so an existing store is never read with the
# wrong layout: `reindex --dirty` (or the embedded sweeper) fills the new one. 2 = dense + BM25
# sparse vector + eq_keys; 3 = + the tenant-indexed `scope` field, float16 in the embedded engine.
LAYOUT_VERSION = 3
# Hybrid search fuses the top HYBRID_DEPTH of each side with the engine's distribution-based
# score fusion (DBSF: each side's scores normalised by mean ± 3σ, then summed). On SciFact it
# beat RRF(k=60) by 0.018 nDCG@10 with no parameter to tune (bench/scifact_offline.py).
HYBRID_DEPTH = 50
# The embedded store answers a repeated search from memory until the next write: at 100k
# points an unindexed dense search costs ~8-30 ms, a cached one microseconds. Only EdgeStore,
# whose one process sees every write; a server has writers this process never hears about.
RESULT_CACHE_SIZE = 2048
# The embedded store keeps its dense vectors as float16: an unindexed search is an exact scan
# that reads every vector of the scope, and half the bytes make it ~1.6x faster at 100k points
# (bench/bench_vectors.py), with scores within ~1e-3 of float32.
EDGE_DATATYPE = qe.VectorStorageDatatype.Float16


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
    def _upsert(self, points: Sequence[VectorPoint]) -> None: ...

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

    @abc.abstractmethod
    def _query_hybrid(
        self, vector: list[float], terms: SparseTerms, must: list[FilterNode], *, limit: int, offset: int, depth: int
    ) -> list[tuple[str, float]]: ...

    @abc.abstractmethod
    def _count(self, must: list[FilterNode]) -> int: ...

    @abc.abstractmethod
    def _scroll(self, must: list[FilterNode], *, offset: Any, limit: int) -> tuple[list[str], Any]: ...

    def upsert(self, points: Sequence[VectorPoint]) -> None:
        if points:
            self._upsert(points)

    def delete(self, ids: Sequence[str]) -> None:
        if ids:
            self._delete([normalize_id(i) for i in ids])

    def search(
        self,
        vector: Sequence[float],
        *,
        tenant: str,
        namespace: str | None = None,
        memory_type: str | None = None,
        conditions: Sequence[FilterCondition] = (),
        limit: int = 10,
        offset: int = 0,
    ) -> list[tuple[str, float]]:
        """(id, cosine score) pairs, best first; the filter runs inside the engine."""
        must = _search_filter(tenant, namespace, memory_type, conditions, limit, offset)
        return self._query(self._vector(vector), must, limit=limit, offset=offset)

    def search_sparse(
        self,
        terms: SparseTerms,
        *,
        tenant: str,
        namespace: str | None = None,
        memory_type: str | None = None,
        conditions: Sequence[FilterCondition] = (),
        limit: int = 10,
        offset: int = 0,
    ) -> list[tuple[str, float]]:
        """(id, BM25 score) pairs, best first, IDF from the engine; none for an empty query."""
        must = _search_filter(tenant, namespace, memory_type, conditions, limit, offset)
        if not terms:
            return []
        return self._query_sparse(terms, must, limit=limit, offset=offset)

    def search_hybrid(
        self,
        vector: Sequence[float],
        terms: SparseTerms,
        *,
        tenant: str,
        namespace: str | None = None,
        memory_type: str | None = None,
        conditions: Sequence[FilterCondition] = (),
        limit: int = 10,
        offset: int = 0,
        depth: int = HYBRID_DEPTH,
    ) -> list[tuple[str, float]]:
        """(id, fused score) pairs: DBSF of the dense and the BM25 top-`depth`, fused in the engine."""
        must = _search_filter(tenant, namespace, memory_type, conditions, limit, offset)
        if not terms:
            return self._query(self._vector(vector), must, limit=limit, offset=offset)
        depth = max(depth, limit + offset)
        return self._query_hybrid(self._vector(vector), terms, must, limit=limit, offset=offset, depth=depth)

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


def _search_filter(
    tenant: str,
    namespace: str | None,
    memory_type: str | None,
    conditions: Sequence[FilterCondition],
    limit: int,
    offset: int,
) -> list[FilterNode]:
    if limit < 1 or offset < 0:
        raise ValueError("limit must be >= 1 and offset >= 0")
    return compile_filter(tenant=tenant, namespace=namespace, memory_type=memory_type, conditions=conditions)


# --- embedded: qdrant-edge-py -----------------------------------------------------


class EdgeStore(VectorStore):
    """Qdrant's engine in-process; one process locks its folder, so one worker only.

    Nothing here optimizes segments (see `build_index`): search is an exact scan of
    the points that pass the filter, and the scope index keeps it to one tenant's namespace.
    """

    def __init__(
        self,
        path: Path,
        *,
        dimension: int = DEFAULT_DIMENSION,
        model_name: str,
        quantization: bool = True,
        hnsw: bool = False,
        flush_interval: float = 0.0,
        max_search_threads: int | None = None,
        datatype: qe.VectorStorageDatatype = EDGE_DATATYPE,
    ) -> None:
        super().__init__(dimension=dimension, model_name=model_name)
        self.shard_path = Path(path) / self.collection_name
        self.datatype = datatype
        self.quantization = quantization
        self.hnsw = hnsw
        # update() only writes the WAL into the page cache (no fsync): enough to survive a
        # killed process, not a power cut. flush() msyncs the WAL and fsyncs the segments
        # (~5-10 ms per write at 100k points); 0 = after every write, bulk loads pass more.
        self.flush_interval = flush_interval
        self.max_search_threads = max_search_threads
        self._shard: qe.EdgeShard | None = None
        self._closed = False
        self._lock = threading.RLock()
        self._last_flush = 0.0
        self._results: OrderedDict[Hashable, list[tuple[str, float]]] = OrderedDict()
        # Bumped by every write: a search that began before it must not cache its answer.
        self._generation = 0

    def _config(self) -> qe.EdgeConfig:
        int8 = qe.ScalarQuantizationConfig(type=qe.ScalarType.Int8, always_ram=True)
        # m=0: no global graph. Every search names its scope (tenant + namespace), so with
        # hnsw=True payload_m builds one graph per scope instead (Qdrant's multitenancy recipe).
        hnsw = qe.HnswIndexConfig(m=0, ef_construct=100, full_scan_threshold=10_000, payload_m=16 * self.hnsw)
        dense = qe.EdgeVectorParams(size=self.dimension, distance=qe.Distance.Cosine, datatype=self.datatype)
        return qe.EdgeConfig(
            vectors=dense,
            sparse_vectors={SPARSE_VECTOR_NAME: qe.EdgeSparseVectorParams(modifier=qe.Modifier.Idf)},
            quantization_config=int8 if self.quantization else None,
            hnsw_config=hnsw,
            max_search_threads=self.max_search_threads,
        )

    def _open(self) -> qe.EdgeShard:
        with self._lock:
            if self._closed:
                raise VectorStoreError("vector store is closed")
            if self._shard is not None:
                return self._shard
            path = str(self.shard_path)
            try:
                if (self.shard_path / "segments").is_dir():
                    shard = qe.EdgeShard.load(path, self._config())
                else:
                    shard = qe.EdgeShard.create(path, self._config())
                existing = shard.info().payload_schema
                for name, params in _EDGE_INDEXES.items():
                    if name not in existing:
                        shard.update(qe.UpdateOperation.create_field_index(name, params))
            except Exception as exc:
                locked = " (locked by another process?)" * ("WouldBlock" in str(exc))
                raise VectorStoreError(f"cannot open {path}{locked}: {exc}") from exc
            self._shard = shard
            return shard

    @contextlib.contextmanager
    def _using(self, action: str) -> Iterator[qe.EdgeShard]:
        shard = self._open()
        with engine_errors(action):
            yield shard

    def ensure_collection(self) -> None:
        self._open()

    def _forget_results(self) -> None:
        with self._lock:
            self._generation += 1
            self._results.clear()

    def _write(self, action: str, operation: qe.UpdateOperation) -> None:
        self._forget_results()
        with self._using(action) as shard:
            shard.update(operation)
            self._forget_results()
            now = time.monotonic()
            if now - self._last_flush >= self.flush_interval:
                shard.flush()
                self._last_flush = now

    def _upsert(self, points: Sequence[VectorPoint]) -> None:
        batch = [qe.Point(normalize_id(p.id), self._edge_vectors(p), p.engine_payload()) for p in points]
        self._write("upsert", qe.UpdateOperation.upsert_points(batch))

    def _delete(self, ids: list[str]) -> None:
        point_ids: list[Any] = list(ids)
        self._write("delete", qe.UpdateOperation.delete_points(point_ids))

    def _edge_vectors(self, point: VectorPoint) -> Any:
        dense = self._vector(point.vector)
        if not point.sparse:
            return dense
        sparse = qe.SparseVector(list(point.sparse.indices), list(point.sparse.values))
        return {"": dense, SPARSE_VECTOR_NAME: sparse}

    def _dense_params(self) -> qe.SearchParams | None:
        rescore = qe.QuantizationSearchParams(rescore=True, oversampling=OVERSAMPLING)
        return qe.SearchParams(quantization=rescore) if self.quantization else None

    @staticmethod
    def _sparse_query(terms: SparseTerms) -> qe.Query:
        return qe.Query.Nearest(qe.SparseVector(list(terms.indices), list(terms.values)), using=SPARSE_VECTOR_NAME)

    def _run(self, key: Hashable, request: qe.QueryRequest) -> list[tuple[str, float]]:
        with self._lock:
            generation, cached = self._generation, self._results.get(key)
            if cached is not None:
                self._results.move_to_end(key)
                return list(cached)
        with self._using("search") as shard:
            hits = shard.query(request)
        result = [(str(hit.id), float(hit.score)) for hit in hits]
        with self._lock:
            if generation == self._generation:
                self._results[key] = result
                if len(self._results) > RESULT_CACHE_SIZE:
                    self._results.popitem(last=False)
        return list(result)

    @staticmethod
    def _key(kind: str, query: Any, must: list[FilterNode], *numbers: int) -> Hashable:
        flt = json.dumps(must, sort_keys=True, default=str)
        return (kind, query, flt, *numbers)

    def _query(
        self, vector: list[float], must: list[FilterNode], *, limit: int, offset: int
    ) -> list[tuple[str, float]]:
        vector_key = np.asarray(vector, dtype=np.float32).tobytes()
        return self._run(
            self._key("dense", vector_key, must, limit, offset),
            qe.QueryRequest(
                limit=limit,
                offset=offset,
                query=qe.Query.Nearest(vector),
                filter=_edge_filter(must),
                params=self._dense_params(),
                with_payload=False,
            ),
        )

    def _query_sparse(
        self, terms: SparseTerms, must: list[FilterNode], *, limit: int, offset: int
    ) -> list[tuple[str, float]]:
        flt = _edge_filter(must)
        return self._run(
            self._key("sparse", terms, must, limit, offset),
            qe.QueryRequest(
                limit=limit, offset=offset, query=self._sparse_query(terms), filter=flt, with_payload=False
            ),
        )

    def _query_hybrid(
        self, vector: list[float], terms: SparseTerms, must: list[FilterNode], *, limit: int, offset: int, depth: int
    ) -> list[tuple[str, float]]:
        flt = _edge_filter(must)
        prefetches = [
            qe.Prefetch(limit=depth, query=qe.Query.Nearest(vector), filter=flt, params=self._dense_params()),
            qe.Prefetch(limit=depth, query=self._sparse_query(terms), filter=flt),
        ]
        fusion: Any = qe.Fusion.Dbsf()  # the stub's ScoringQueryType omits the nested Fusion classes
        vector_key = np.asarray(vector, dtype=np.float32).tobytes()
        return self._run(
            self._key("hybrid", (vector_key, terms), must, limit, offset, depth),
            qe.QueryRequest(
                limit=limit,
                offset=offset,
                query=fusion,
                prefetches=prefetches,
                filter=flt,
                with_payload=False,
            ),
        )

    def _count(self, must: list[FilterNode]) -> int:
        with self._using("count") as shard:
            return shard.count(qe.CountRequest(exact=True, filter=_edge_filter(must)))

    def _scroll(self, must: list[FilterNode], *, offset: Any, limit: int) -> tuple[list[str], Any]:
        flt = _edge_filter(must)
        request = qe.ScrollRequest(offset=offset, limit=limit, filter=flt, with_payload=False)
        with self._using("scroll") as shard:
            records, next_offset = shard.scroll(request)
        return [str(record.id) for record in records], next_offset

    def recreate(self) -> None:
        with self._lock:
            self._forget_results()
            self._close_shard()
            shutil.rmtree(self.shard_path, ignore_errors=True)
            self._open()

    def healthy(self) -> bool:
        try:
            self.info()
        except VectorStoreError:
            return False
        return True

    def build_index(self) -> bool:
        """OFFLINE ONLY: build the int8 (and, with hnsw=True, per-scope HNSW) index.

        `optimize()` holds the GIL for its whole run (~2 s at 100k points for the int8
        index, longer with HNSW), freezing every other thread: run it from a management
        command while the server is stopped, never while serving. Points written later
        land in a new unindexed segment (exact scan) until the next build. With hnsw=True
        there is no global graph (m=0): only searches in a scope (tenant and namespace),
        which every API search is, can use the graphs.
        """
        with self._using("optimize") as shard:
            changed = shard.optimize()
            shard.flush()
        return changed

    def info(self) -> dict[str, int | str]:
        with self._using("info") as shard:
            info = shard.info()
        return {
            "points": info.points_count,
            "indexed_vectors": info.indexed_vectors_count,
            "segments": info.segments_count,
            "datatype": str(self.datatype).rpartition(".")[2].lower(),
        }

    def flush(self) -> None:
        with self._using("flush") as shard:
            shard.flush()

    def _close_shard(self) -> None:
        shard, self._shard = self._shard, None
        if shard is not None:
            try:
                shard.flush()
            finally:
                shard.close()

    def close(self) -> None:
        with self._lock, engine_errors("close"):
            self._closed = True
            self._close_shard()


# enable_hnsw=False: payload_m graphs only per scope (tenant + namespace, what every search
# names), not per tenant, namespace or type as well.
_EDGE_INDEXES: dict[str, Any] = {
    SCOPE_FIELD: qe.KeywordIndexParams(is_tenant=True),
    "tenant": qe.KeywordIndexParams(enable_hnsw=False),
    "namespace": qe.KeywordIndexParams(enable_hnsw=False),
    "memory_type": qe.KeywordIndexParams(enable_hnsw=False),
    "created_ts": qe.FloatIndexParams(enable_hnsw=False),
    EQ_FIELD: qe.KeywordIndexParams(enable_hnsw=False),
}


def _edge_node(node: FilterNode) -> Any:
    if "should" in node:
        return qe.Filter(should=[_edge_node(child) for child in node["should"]])
    key, match = node["key"], node.get("match")
    if match is not None and "any" in match:
        return qe.FieldCondition(key=key, match=qe.MatchAny(match["any"]))
    if match is not None:
        # qdrant-edge-py 0.9 reads a Python bool as the integer 0/1, which never
        # matches a JSON boolean; numpy's bool is read as a real boolean.
        value: Any = match["value"]
        value = np.bool_(value) if type(value) is bool else value
        return qe.FieldCondition(key=key, match=qe.MatchValue(value))
    bounds = node["range"]
    if any(isinstance(bound, str) for bound in bounds.values()):
        return qe.FieldCondition(key=key, range=qe.RangeDateTime(**bounds))
    return qe.FieldCondition(key=key, range=qe.RangeFloat(**bounds))


def _edge_filter(must: list[FilterNode]) -> qe.Filter | None:
    return qe.Filter(must=[_edge_node(node) for node in must]) if must else None


def __getattr__(name: str) -> Any:
    # ClientStore lives in its own module (it imports this one); old imports keep working.
    if name == "ClientStore":
        from vectors.client_store import ClientStore

        return ClientStore
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
