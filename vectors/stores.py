"""One vector-store interface over embedded Qdrant (qdrant-edge-py) and a Qdrant server."""

from __future__ import annotations

import abc
import contextlib
import json
import shutil
import subprocess
import sys
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

from vectors.edge_flush import Flusher, FlushRecord, atomic_write_json, now_window
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
# Candidates an HNSW search explores. Against exact search, 200 SciFact claims over 100k
# memories in one scope: recall@10 0.955 at 32, 0.977 at 64, 0.992 at 128, 0.995 at 256
# (0.17 / 0.34 / 0.41 / 0.82 ms per search, int8 + rescoring; 2.7 ms without the graphs).
HNSW_EF = 256
# Bumped whenever the collection's layout changes, so an existing store is never read with the
# wrong layout: `reindex --dirty` (or the embedded sweeper) fills the new one. 2 = dense + BM25
# sparse vector + eq_keys; 3 = + the tenant-indexed `scope` field, float16 in the embedded engine.
LAYOUT_VERSION = 3
# search_hybrid fuses the top HYBRID_DEPTH of each side with the engine's distribution-based
# score fusion (DBSF: each side's scores normalised by mean ± 3σ, then summed). It was hybrid
# mode until 1.3; search now fuses the two sides itself (vectors/fusion.py), which holds on
# conversations too. Kept as the engine's own fusion, the baseline of bench/fusion_offline.py.
HYBRID_DEPTH = 50
# The embedded store answers a repeated search from memory until the next write: at 100k
# points an unindexed dense search costs ~8-30 ms, a cached one microseconds. Only EdgeStore,
# whose one process sees every write; a server has writers this process never hears about.
RESULT_CACHE_SIZE = 2048
# The embedded store keeps its dense vectors as float16: an unindexed search is an exact scan
# that reads every vector of the scope, and half the bytes make it ~1.6x faster at 100k points
# (bench/bench_vectors.py), with scores within ~1e-3 of float32.
EDGE_DATATYPE = qe.VectorStorageDatatype.Float16
# Optimizing a copy of the shard needs no trigger size of the engine's own (default ~10 MB of
# vectors): whatever EdgeStore.index_aside hands it is indexed.
EDGE_INDEXING_THRESHOLD_KB = 1


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

    @abc.abstractmethod
    def _query_hybrid(
        self, vector: list[float], terms: SparseTerms, must: list[FilterNode], *, limit: int, offset: int, depth: int
    ) -> list[tuple[str, float]]: ...

    @abc.abstractmethod
    def _count(self, must: list[FilterNode]) -> int: ...

    @abc.abstractmethod
    def _scroll(self, must: list[FilterNode], *, offset: Any, limit: int) -> tuple[list[str], Any]: ...

    def upsert(self, points: Sequence[VectorPoint]) -> int:
        """The flush window that makes these points durable (vectors.edge_flush); 0 = they already are."""
        return (self._upsert(points) or 0) if points else 0

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

    Writes land in an unindexed segment, which search scans exactly (the scope index keeps
    the scan to one tenant's namespace). `index_aside` (the serving process, through a child
    process) or `build_index` (offline) turn it into an indexed one: int8 quantized vectors
    and, with hnsw=True (the default), an HNSW graph per scope.
    """

    def __init__(
        self,
        path: Path,
        *,
        dimension: int = DEFAULT_DIMENSION,
        model_name: str,
        quantization: bool = True,
        hnsw: bool = True,
        flush_interval: float = 0.0,
        max_search_threads: int | None = None,
        datatype: qe.VectorStorageDatatype = EDGE_DATATYPE,
    ) -> None:
        super().__init__(dimension=dimension, model_name=model_name)
        self.root = Path(path)
        self.shard_path = self._current_path(self._record())
        self.datatype = datatype
        self.quantization = quantization
        self.hnsw = hnsw
        # update() only writes the WAL into the page cache (no fsync): enough to survive a
        # killed process, not a power cut. flush() msyncs the WAL and fsyncs the segments
        # (~15-20 ms, holding the GIL): 0 = after every write, else every flush_interval
        # seconds by a thread, the writes in between tracked by flush window (vectors.edge_flush).
        self.flush_interval = flush_interval
        self._flush_record = FlushRecord(self.root / f"{self.collection_name}.flushed.json")
        self._flusher: Flusher | None = None
        self._window = 0  # the current flush window; set when the shard opens
        self._dirty = False  # written to since the last flush
        # (last window on disk, first window of this process): what may have been lost before.
        self.lost_windows = (0, 0)
        self.max_search_threads = max_search_threads
        self._shard: qe.EdgeShard | None = None
        self._closed = False
        self._lock = threading.RLock()
        self._results: OrderedDict[Hashable, list[tuple[str, float]]] = OrderedDict()
        # Bumped by every write: a search that began before it must not cache its answer.
        self._generation = 0
        # Writes hold this around the engine call, so index_aside can take a consistent copy and
        # log every write made while the copy is optimized (replayed onto it before the swap).
        self._write_lock = threading.Lock()
        self._replay: list[qe.UpdateOperation] | None = None
        # Engine calls running per open shard (id): a shard swapped out closes once it has none.
        self._readers: dict[int, int] = {}
        self._idle = threading.Condition(self._lock)
        # Bumped by recreate() and close(): an index built on an older copy is thrown away.
        self._epoch = 0
        self._builder: subprocess.Popen[bytes] | None = None
        self._building: Path | None = None  # the copy being indexed
        # Points written into the unindexed segment since the last index build (an estimate
        # kept by this process; the engine does not report it): see index_aside.
        self.unindexed = 0

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
            optimizers=qe.EdgeOptimizersConfig(indexing_threshold=EDGE_INDEXING_THRESHOLD_KB),
            max_search_threads=self.max_search_threads,
        )

    # The shard lives in root/<collection> until index_aside swaps in an optimized copy,
    # root/<collection>.g<n>; root/<collection>.index.json names the current folder and how
    # many points the last index build covered.
    def _record_path(self) -> Path:
        return self.root / f"{self.collection_name}.index.json"

    def _record(self) -> dict[str, Any]:
        try:
            record = json.loads(self._record_path().read_text())
        except (OSError, ValueError):
            return {}
        return record if isinstance(record, dict) else {}

    def _current_path(self, record: dict[str, Any]) -> Path:
        folder = str(record.get("folder", ""))
        if folder.startswith(f"{self.collection_name}.g") and "/" not in folder and (self.root / folder).is_dir():
            return self.root / folder
        return self.root / self.collection_name

    def _record_write(self, folder: Path, indexed_points: int) -> None:
        atomic_write_json(self._record_path(), {"folder": folder.name, "indexed_points": indexed_points})

    def _remove_stale_folders(self) -> None:
        """Copies left by an index build that never swapped in, and the folder it replaced."""
        for candidate in [self.root / self.collection_name, *self.root.glob(f"{self.collection_name}.g*")]:
            if candidate not in (self.shard_path, self._building) and candidate.is_dir():
                shutil.rmtree(candidate, ignore_errors=True)

    def _open(self) -> qe.EdgeShard:
        with self._lock:
            if self._closed:
                raise VectorStoreError("vector store is closed")
            if self._shard is not None:
                return self._shard
            record = self._record()
            self.shard_path = self._current_path(record)
            path = str(self.shard_path)
            try:
                if (self.shard_path / "segments").is_dir():
                    shard = qe.EdgeShard.load(path, self._config())
                else:
                    shard = qe.EdgeShard.create(path, self._config())
                info = shard.info()
                for name, params in _EDGE_INDEXES.items():
                    if name not in info.payload_schema:
                        shard.update(qe.UpdateOperation.create_field_index(name, params))
            except Exception as exc:
                locked = " (locked by another process?)" * ("WouldBlock" in str(exc))
                raise VectorStoreError(f"cannot open {path}{locked}: {exc}") from exc
            # The folder is ours now (the engine locks it): nothing else can be using the others.
            self._remove_stale_folders()
            built = record.get("indexed_points") if record.get("folder") == self.shard_path.name else None
            self.unindexed = max(0, info.points_count - int(built or 0))
            durable = self._flush_record.read()
            self._window = max(durable + 1, now_window(), self._window + 1)
            self.lost_windows = (durable, self._window)
            if self.flush_interval > 0 and self._flusher is None:
                self._flusher = Flusher(interval=self.flush_interval, flush=self.flush)
            self._shard = shard
            return shard

    @contextlib.contextmanager
    def _using(self, action: str) -> Iterator[qe.EdgeShard]:
        with self._lock:
            shard = self._open()
            self._readers[id(shard)] = self._readers.get(id(shard), 0) + 1
        try:
            with engine_errors(action):
                yield shard
        finally:
            with self._lock:
                left = self._readers.pop(id(shard)) - 1
                if left:
                    self._readers[id(shard)] = left
                else:
                    self._idle.notify_all()

    def ensure_collection(self) -> None:
        self._open()

    def _forget_results(self) -> None:
        with self._lock:
            self._generation += 1
            self._results.clear()

    def _write(self, action: str, operation: qe.UpdateOperation, *, points: int = 0) -> int:
        """Returns the write's flush window (0: flushed already, flush_interval 0)."""
        self._forget_results()
        with self._write_lock, self._using(action) as shard:
            shard.update(operation)
            self._forget_results()
            if self._replay is not None:
                self._replay.append(operation)
            self.unindexed += points
            if self.flush_interval <= 0:
                shard.flush()
                return 0
            self._dirty = True
            return self._window

    def _window_close(self) -> int:
        """Under the write lock: end the current window; the caller flushes, then records it."""
        window = self._window
        self._window = max(window + 1, now_window())
        self._dirty = False
        return window

    def flush(self) -> None:
        """Make every write so far durable and record its window (the flusher thread calls this)."""
        with self._write_lock:
            if not self._dirty or self._closed:
                return
            window = self._window_close()
        try:
            with self._using("flush") as shard:
                shard.flush()
        except BaseException:
            with self._write_lock:
                self._dirty = True
            raise
        self._flush_record.write(window)

    def _flush_locked(self, shard: qe.EdgeShard) -> None:
        """Under the write lock: flush `shard` (which holds every write) and record the window."""
        dirty, window = self._dirty, self._window_close()
        shard.flush()
        if dirty:
            self._flush_record.write(window)

    def field_index_ensure(self, name: str, params: Any) -> bool:
        """A payload field index (`vectors.runtime.payload_indexes_ensure`); False if it exists."""
        with self._using("create field index") as shard:
            if name in shard.info().payload_schema:
                return False
        self._write("create field index", qe.UpdateOperation.create_field_index(name, params))
        return True

    def _upsert(self, points: Sequence[VectorPoint]) -> int:
        batch = [qe.Point(normalize_id(p.id), self._edge_vectors(p), p.engine_payload()) for p in points]
        return self._write("upsert", qe.UpdateOperation.upsert_points(batch), points=len(batch))

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
        rescore = qe.QuantizationSearchParams(rescore=True, oversampling=OVERSAMPLING) if self.quantization else None
        return qe.SearchParams(hnsw_ef=HNSW_EF if self.hnsw else None, quantization=rescore)

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
        with self._write_lock, self._lock:
            self._epoch += 1
            self._forget_results()
            self._close_shard()
            shutil.rmtree(self.shard_path, ignore_errors=True)
            self._record_path().unlink(missing_ok=True)
            self._open()

    def healthy(self) -> bool:
        try:
            self.info()
        except VectorStoreError:
            return False
        return True

    def build_index(self) -> bool:
        """OFFLINE ONLY: build the int8 (and, with hnsw=True, per-scope HNSW) index in this process.

        `optimize()` holds the GIL for its whole run (~4 s at 100k points for the int8
        index, ~16 s with HNSW), freezing every other thread: run it from a management
        command while the server is stopped, never while serving (that is `index_aside`). Points written later
        land in a new unindexed segment (exact scan) until the next build. With hnsw=True
        there is no global graph (m=0): only searches in a scope (tenant and namespace),
        which every API search is, can use the graphs.
        """
        with self._write_lock, self._using("optimize") as shard:
            changed = shard.optimize()
            self._flush_locked(shard)
            self._record_write(self.shard_path, shard.info().points_count)
            self.unindexed = 0
        return changed

    def index_aside(self, *, timeout: float = 3600.0) -> bool:
        """Build the index while serving: optimize a copy of the shard in a child process.

        The engine's optimize() holds the GIL, so this process never runs it: it copies the
        flushed shard (writes wait, ~0.7 s per 100k points), a child process (vectors/
        edge_index.py, niced) optimizes the copy while searches and writes go on here, and the
        writes made meanwhile are replayed onto it before it replaces the shard (writes wait
        for the last few). Searches already running finish on the old shard, which is then
        closed and deleted. False when another build runs or the store was recreated or
        closed meanwhile (the copy is discarded). The child builds what the persisted config
        (this store's) asks for: int8 vectors and, with hnsw=True, the per-scope graphs.
        """
        staged = self._index_stage()
        if staged is None:
            return False
        folder, epoch, points, covered = staged
        swapped = False
        try:
            self._index_build(folder, timeout)
            swapped = self._index_swap(folder, epoch, points, covered)
        finally:
            with self._write_lock:
                self._building = None
                if not swapped:
                    self._replay = None
                    shutil.rmtree(folder, ignore_errors=True)
        return swapped

    def _index_stage(self) -> tuple[Path, int, int, int] | None:
        with self._write_lock:
            if self._replay is not None:
                return None
            folder = self.root / f"{self.collection_name}.g{time.time_ns()}"
            with self._using("index copy") as shard:
                self._flush_locked(shard)
                points = shard.info().points_count
                try:
                    shutil.copytree(self.shard_path, folder)
                except OSError as exc:
                    shutil.rmtree(folder, ignore_errors=True)
                    raise VectorStoreError(f"cannot copy the vector store for indexing: {exc}") from exc
            self._replay, self._building = [], folder
            return folder, self._epoch, points, self.unindexed

    def _index_build(self, folder: Path, timeout: float) -> None:
        command = [sys.executable, str(Path(__file__).with_name("edge_index.py")), str(folder)]
        with self._lock:
            if self._closed:
                raise VectorStoreError("vector store is closed")
            self._builder = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        builder = self._builder
        try:
            _, stderr = builder.communicate(timeout=timeout)
        except subprocess.TimeoutExpired as exc:
            builder.kill()
            builder.communicate()
            raise VectorStoreError(f"index build took over {timeout:.0f} s") from exc
        finally:
            with self._lock:
                self._builder = None
        if builder.returncode:
            detail = stderr.decode(errors="replace").strip().splitlines()[-1:] or [f"exit {builder.returncode}"]
            raise VectorStoreError(f"index build failed: {detail[0]}")

    def _index_swap(self, folder: Path, epoch: int, points: int, covered: int) -> bool:
        if self._epoch != epoch:
            return False
        try:
            shard = qe.EdgeShard.load(str(folder), self._config())
        except Exception as exc:
            raise VectorStoreError(f"cannot open the indexed copy {folder}: {exc}") from exc
        try:
            # Catch up with the writes made during the build without holding writers back,
            # then take the lock for the last few.
            done = 0
            while True:
                with self._write_lock:
                    pending = self._replay[done:] if self._replay is not None else []
                if len(pending) < 16:
                    break
                for operation in pending:
                    shard.update(operation)
                done += len(pending)
            with self._write_lock:
                if self._closed or self._epoch != epoch or self._replay is None:
                    shard.close()
                    return False
                for operation in self._replay[done:]:
                    shard.update(operation)
                self._flush_locked(shard)
                self._record_write(folder, points)
                self.unindexed = max(0, self.unindexed - covered)
                with self._lock:
                    old, old_path = self._shard, self.shard_path
                    self._shard, self.shard_path = shard, folder
                    self._forget_results()
                self._replay = None
        except BaseException:
            if self._shard is not shard:
                shard.close()
            raise
        with self._idle:
            self._idle.wait_for(lambda: old is None or id(old) not in self._readers, timeout=60)
            if old is not None:
                old.close()
        shutil.rmtree(old_path, ignore_errors=True)
        return True

    def info(self) -> dict[str, int | str]:
        with self._using("info") as shard:
            info = shard.info()
        return {
            "points": info.points_count,
            "indexed_vectors": info.indexed_vectors_count,
            "segments": info.segments_count,
            "unindexed": min(self.unindexed, info.points_count),
            "datatype": str(self.datatype).rpartition(".")[2].lower(),
        }

    def _close_shard(self) -> None:
        shard, self._shard = self._shard, None
        if shard is not None:
            try:
                self._flush_locked(shard)
            finally:
                shard.close()

    def close(self) -> None:
        with self._lock:
            self._closed = True
            self._epoch += 1
            if self._builder is not None:
                self._builder.kill()
            flusher, self._flusher = self._flusher, None
        if flusher is not None:
            flusher.stop()
        with self._write_lock, self._lock, engine_errors("close"):
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
