"""One vector-store interface over embedded Qdrant (qdrant-edge-py) and a Qdrant server."""

from __future__ import annotations

import abc
import contextlib
import shutil
import threading
import time
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, TypeAlias

import numpy as np
import qdrant_edge as qe

if TYPE_CHECKING:
    from qdrant_client import QdrantClient

DEFAULT_MODEL_NAME = "all-MiniLM-L6-v2"
DEFAULT_DIMENSION = 384
RANGE_OPS = ("gt", "gte", "lt", "lte")
# Rescoring 2×limit int8 candidates gave recall@10 = 1.0 against exact search at 100k.
OVERSAMPLING = 2.0

FilterNode: TypeAlias = dict[str, Any]  # a condition in Qdrant's JSON filter language


class VectorStoreError(Exception):
    """The engine or the network failed; callers degrade (e.g. to full-text search)."""


@contextlib.contextmanager
def _engine_errors(action: str) -> Iterator[None]:
    try:
        yield
    except VectorStoreError:
        raise
    except Exception as exc:
        raise VectorStoreError(f"vector store {action} failed: {exc}") from exc


class FilterCondition(Protocol):
    @property
    def key(self) -> str: ...
    @property
    def op(self) -> str: ...
    @property
    def value(self) -> Any: ...


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

    def engine_payload(self) -> dict[str, Any]:
        # Qdrant holds only what searches filter on; PostgreSQL stays the truth.
        keys = ("tenant", "namespace", "memory_type", "payload", "metadata")
        return {k: getattr(self, k) for k in keys} | {"created_ts": float(self.created_ts)}


def collection_name_for(*, model_name: str, dimension: int) -> str:
    return f"soma_{model_name.lower()}_{dimension}"


def normalize_id(point_id: str | uuid.UUID) -> str:
    """Canonical lowercase UUID string; Qdrant takes only UUIDs or integers as ids."""
    return str(uuid.UUID(str(point_id)))


# --- filters ----------------------------------------------------------------------


def _bound(key: str, value: Any) -> float | str:
    """A range bound: created_ts holds epoch seconds; other datetimes are ISO text."""
    if isinstance(value, datetime):
        if value.tzinfo is None:
            raise ValueError(f"datetime for {key!r} must be timezone-aware")
        return value.timestamp() if key == "created_ts" else value.isoformat()
    if key == "created_ts":
        raise ValueError("created_at needs a timezone-aware datetime")
    if isinstance(value, date):
        return f"{value.isoformat()}T00:00:00Z"
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    raise ValueError(f"{key!r} needs a number or a datetime, not {type(value).__name__}")


def _condition(key: str, op: str, value: Any) -> FilterNode:
    if op in RANGE_OPS:
        return {"key": key, "range": {op: _bound(key, value)}}
    if op == "eq":
        if isinstance(value, str | int) and key != "created_ts":  # bool is an int too
            return {"key": key, "match": {"value": value}}
        bound = _bound(key, value)
        return {"key": key, "range": {"gte": bound, "lte": bound}}
    if op != "in" or not isinstance(value, list | tuple):
        raise ValueError(f"{op!r} on {key!r}: unknown operator, or 'in' without a list")
    if not value:
        # An empty `should` would match everything; an empty match-any matches nothing.
        return {"key": key, "match": {"any": []}}
    groups: list[list[Any]] = [[v for v in value if isinstance(v, str)], [v for v in value if type(v) is int]]
    if key == "created_ts" or sum(len(group) for group in groups) != len(value):
        return {"should": [_condition(key, "eq", v) for v in value]}
    parts = [{"key": key, "match": {"any": group}} for group in groups if group]
    return parts[0] if len(parts) == 1 else {"should": parts}


def compile_filter(
    *,
    tenant: str | None,
    namespace: str | None = None,
    memory_type: str | None = None,
    conditions: Sequence[FilterCondition] = (),
) -> list[FilterNode]:
    """The `must` list of a search: every node has to hold."""
    scope = {"tenant": tenant, "namespace": namespace, "memory_type": memory_type}
    must: list[FilterNode] = [{"key": k, "match": {"value": v}} for k, v in scope.items() if v is not None]
    for condition in conditions:
        key, op, value = condition.key, condition.op, condition.value
        if not key or "" in key.split("."):
            raise ValueError(f"invalid filter key {key!r}")
        if key == "created_at":
            must.append(_condition("created_ts", op, value))
        else:
            # A user key may live in the payload or in the metadata: either matches.
            paths = (f"payload.{key}", f"metadata.{key}")
            must.append({"should": [_condition(path, op, value) for path in paths]})
    return must


# --- the interface ----------------------------------------------------------------


class VectorStore(abc.ABC):
    def __init__(self, *, dimension: int, model_name: str) -> None:
        self.dimension = dimension
        self.model_name = model_name
        self.collection_name = f"soma_{model_name.lower()}_{dimension}"

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
        if limit < 1 or offset < 0:
            raise ValueError("limit must be >= 1 and offset >= 0")
        scope = {"tenant": tenant, "namespace": namespace, "memory_type": memory_type}
        must = compile_filter(**scope, conditions=conditions)
        return self._query(self._vector(vector), must, limit=limit, offset=offset)

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


# --- embedded: qdrant-edge-py -----------------------------------------------------


class EdgeStore(VectorStore):
    """Qdrant's engine in-process; one process locks its folder, so one worker only.

    Nothing here optimizes segments (see `build_index`): search is an exact scan of
    the points that pass the filter, and the tenant index keeps it to one tenant.
    """

    def __init__(
        self,
        path: Path,
        *,
        dimension: int = DEFAULT_DIMENSION,
        model_name: str = DEFAULT_MODEL_NAME,
        quantization: bool = True,
        hnsw: bool = False,
        flush_interval: float = 0.0,
        max_search_threads: int | None = None,
    ) -> None:
        super().__init__(dimension=dimension, model_name=model_name)
        self.shard_path = Path(path) / self.collection_name
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

    def _config(self) -> qe.EdgeConfig:
        int8 = qe.ScalarQuantizationConfig(type=qe.ScalarType.Int8, always_ram=True)
        # m=0: no global graph. Every search is tenant-scoped, so with hnsw=True
        # payload_m builds one graph per tenant instead (Qdrant's multitenancy recipe).
        hnsw = qe.HnswIndexConfig(m=0, ef_construct=100, full_scan_threshold=10_000, payload_m=16 * self.hnsw)
        return qe.EdgeConfig(
            vectors=qe.EdgeVectorParams(size=self.dimension, distance=qe.Distance.Cosine),
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
        with _engine_errors(action):
            yield shard

    def ensure_collection(self) -> None:
        self._open()

    def _write(self, action: str, operation: qe.UpdateOperation) -> None:
        with self._using(action) as shard:
            shard.update(operation)
            now = time.monotonic()
            if now - self._last_flush >= self.flush_interval:
                shard.flush()
                self._last_flush = now

    def _upsert(self, points: Sequence[VectorPoint]) -> None:
        batch = [qe.Point(normalize_id(p.id), self._vector(p.vector), p.engine_payload()) for p in points]
        self._write("upsert", qe.UpdateOperation.upsert_points(batch))

    def _delete(self, ids: list[str]) -> None:
        point_ids: list[Any] = list(ids)
        self._write("delete", qe.UpdateOperation.delete_points(point_ids))

    def _query(
        self, vector: list[float], must: list[FilterNode], *, limit: int, offset: int
    ) -> list[tuple[str, float]]:
        rescore = qe.QuantizationSearchParams(rescore=True, oversampling=OVERSAMPLING)
        request = qe.QueryRequest(
            limit=limit,
            offset=offset,
            query=qe.Query.Nearest(vector),
            filter=_edge_filter(must),
            params=qe.SearchParams(quantization=rescore) if self.quantization else None,
            with_payload=False,
        )
        with self._using("search") as shard:
            hits = shard.query(request)
        return [(str(hit.id), float(hit.score)) for hit in hits]

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
        """OFFLINE ONLY: build the int8 (and, with hnsw=True, per-tenant HNSW) index.

        `optimize()` holds the GIL for its whole run (~2 s at 100k points for the int8
        index, longer with HNSW), freezing every other thread: run it from a management
        command while the server is stopped, never while serving. Points written later
        land in a new unindexed segment (exact scan) until the next build. With hnsw=True
        there is no global graph (m=0): only tenant-filtered searches, which are all the
        public `search` makes, can use it.
        """
        with self._using("optimize") as shard:
            changed = shard.optimize()
            shard.flush()
        return changed

    def info(self) -> dict[str, int]:
        with self._using("info") as shard:
            info = shard.info()
        return {
            "points": info.points_count,
            "indexed_vectors": info.indexed_vectors_count,
            "segments": info.segments_count,
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
        with self._lock, _engine_errors("close"):
            self._closed = True
            self._close_shard()


# enable_hnsw=False: payload_m graphs only for the tenant, not one per namespace or type.
_EDGE_INDEXES: dict[str, Any] = {
    "tenant": qe.KeywordIndexParams(is_tenant=True),
    "namespace": qe.KeywordIndexParams(enable_hnsw=False),
    "memory_type": qe.KeywordIndexParams(enable_hnsw=False),
    "created_ts": qe.FloatIndexParams(enable_hnsw=False),
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


# --- a Qdrant server (or qdrant-client's local mode, in tests) ----------------------


class ClientStore(VectorStore):
    def __init__(
        self,
        *,
        url: str | None = None,
        api_key: str | None = None,
        location: str | None = None,
        dimension: int = DEFAULT_DIMENSION,
        model_name: str = DEFAULT_MODEL_NAME,
        quantization: bool = False,
        timeout: int = 10,
    ) -> None:
        # Imported here: qdrant-client takes ~0.6 s to import; embedded mode never does.
        from qdrant_client import QdrantClient

        super().__init__(dimension=dimension, model_name=model_name)
        if not url and not location:
            raise ValueError("ClientStore needs a url or a location")
        self.quantization = quantization
        # Local mode (tests) is pure Python and ignores payload indexes and params.
        self._local = location == ":memory:"
        # No version check: building a store must not block on the network.
        self._client: QdrantClient = QdrantClient(
            url=url, api_key=api_key, location=location, timeout=timeout, check_compatibility=False
        )
        self._ensured = False
        self._lock = threading.Lock()

    @contextlib.contextmanager
    def _using(self, action: str) -> Iterator[QdrantClient]:
        if not self._ensured:
            self.ensure_collection()
        with _engine_errors(action):
            yield self._client

    def ensure_collection(self) -> None:
        with self._lock, _engine_errors("ensure_collection"):
            if self._ensured:
                return
            if not self._client.collection_exists(self.collection_name):
                self._create_collection()
            if not self._local:
                for name, schema in _client_indexes().items():
                    self._client.create_payload_index(self.collection_name, name, schema)
            self._ensured = True

    def _create_collection(self) -> None:
        m = _models()
        int8 = m.ScalarQuantization(scalar=m.ScalarQuantizationConfig(type=m.ScalarType.INT8, always_ram=True))
        try:
            self._client.create_collection(
                self.collection_name,
                vectors_config=m.VectorParams(size=self.dimension, distance=m.Distance.COSINE),
                # Every search is tenant-scoped: per-tenant graphs, no global one.
                hnsw_config=m.HnswConfigDiff(m=0, payload_m=16),
                quantization_config=int8 if self.quantization else None,
            )
        except Exception:
            # Another worker may have created it between our check and our create.
            if not self._client.collection_exists(self.collection_name):
                raise

    def _upsert(self, points: Sequence[VectorPoint]) -> None:
        structs = [
            _models().PointStruct(id=normalize_id(p.id), vector=self._vector(p.vector), payload=p.engine_payload())
            for p in points
        ]
        with self._using("upsert") as client:
            client.upsert(self.collection_name, points=structs, wait=True)

    def _delete(self, ids: list[str]) -> None:
        selector = _models().PointIdsList(points=list(ids))
        with self._using("delete") as client:
            client.delete(self.collection_name, points_selector=selector, wait=True)

    def _query(
        self, vector: list[float], must: list[FilterNode], *, limit: int, offset: int
    ) -> list[tuple[str, float]]:
        m = _models()
        rescore = m.QuantizationSearchParams(rescore=True, oversampling=OVERSAMPLING)
        params = m.SearchParams(quantization=rescore)
        with self._using("search") as client:
            response = client.query_points(
                self.collection_name,
                query=vector,
                query_filter=_client_filter(must),
                search_params=params if self.quantization and not self._local else None,
                limit=limit,
                offset=offset,
                with_payload=False,
            )
        return [(str(point.id), float(point.score)) for point in response.points]

    def _count(self, must: list[FilterNode]) -> int:
        with self._using("count") as client:
            flt = _client_filter(must)
            return client.count(self.collection_name, count_filter=flt, exact=True).count

    def _scroll(self, must: list[FilterNode], *, offset: Any, limit: int) -> tuple[list[str], Any]:
        with self._using("scroll") as client:
            records, next_offset = client.scroll(
                self.collection_name,
                scroll_filter=_client_filter(must),
                limit=limit,
                offset=offset,
                with_payload=False,
            )
        return [str(record.id) for record in records], next_offset

    def recreate(self) -> None:
        with self._lock, _engine_errors("recreate"):
            self._client.delete_collection(self.collection_name)
            self._ensured = False
        self.ensure_collection()

    def healthy(self) -> bool:
        try:
            with _engine_errors("health check"):
                self._client.get_collections()
        except VectorStoreError:
            return False
        return True

    def close(self) -> None:
        with _engine_errors("close"):
            self._client.close()


def _models() -> Any:
    from qdrant_client import models

    return models


def _client_indexes() -> dict[str, Any]:
    m = _models()
    return {
        "tenant": m.KeywordIndexParams(type=m.KeywordIndexType.KEYWORD, is_tenant=True),
        "namespace": m.KeywordIndexParams(type=m.KeywordIndexType.KEYWORD, enable_hnsw=False),
        "memory_type": m.KeywordIndexParams(type=m.KeywordIndexType.KEYWORD, enable_hnsw=False),
        "created_ts": m.FloatIndexParams(type=m.FloatIndexType.FLOAT, enable_hnsw=False),
    }


def _client_filter(must: list[FilterNode]) -> Any:
    # The nodes are already in Qdrant's JSON filter language, which its models parse.
    return _models().Filter.model_validate({"must": must}) if must else None
