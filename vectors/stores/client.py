"""The vector store against a Qdrant server (or qdrant-client's local mode, in tests)."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Iterator, Sequence
from typing import TYPE_CHECKING, Any

from vectors.sparse import SPARSE_VECTOR_NAME, SparseTerms
from vectors.stores.base import (
    DEFAULT_DIMENSION,
    OVERSAMPLING,
    VectorPoint,
    VectorStore,
    VectorStoreError,
    engine_errors,
    normalize_id,
)
from vectors.stores.filters import EQ_FIELD, SCOPE_FIELD, FilterNode

if TYPE_CHECKING:
    from qdrant_client import QdrantClient


class ClientStore(VectorStore):
    def __init__(
        self,
        *,
        url: str | None = None,
        api_key: str | None = None,
        location: str | None = None,
        dimension: int = DEFAULT_DIMENSION,
        model_name: str,
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
        with engine_errors(action):
            yield self._client

    def ensure_collection(self) -> None:
        with self._lock, engine_errors("ensure_collection"):
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
                sparse_vectors_config={SPARSE_VECTOR_NAME: m.SparseVectorParams(modifier=m.Modifier.IDF)},
                # Every search names its scope (tenant + namespace): one graph per scope, no global one.
                hnsw_config=m.HnswConfigDiff(m=0, payload_m=16),
                quantization_config=int8 if self.quantization else None,
            )
        except Exception:
            # Another worker may have created it between our check and our create.
            if not self._client.collection_exists(self.collection_name):
                raise

    def _field_indexes_create(self, wanted: dict[str, str]) -> list[str]:
        if self._local:
            return []
        params = _field_index_params()
        created = []
        with self._using("create field index") as client:
            on_server = set(client.get_collection(self.collection_name).payload_schema)
            for name, kind in wanted.items():
                if name not in on_server:
                    client.create_payload_index(self.collection_name, name, params[kind]())
                    created.append(name)
        return created

    def _upsert(self, points: Sequence[VectorPoint]) -> None:
        structs = [
            _models().PointStruct(id=normalize_id(p.id), vector=self._client_vectors(p), payload=p.engine_payload())
            for p in points
        ]
        with self._using("upsert") as client:
            client.upsert(self.collection_name, points=structs, wait=True)

    def _delete(self, ids: list[str]) -> None:
        selector = _models().PointIdsList(points=list(ids))
        with self._using("delete") as client:
            client.delete(self.collection_name, points_selector=selector, wait=True)

    def _client_vectors(self, point: VectorPoint) -> Any:
        dense = self._vector(point.vector)
        if not point.sparse:
            return dense
        sparse = _models().SparseVector(indices=list(point.sparse.indices), values=list(point.sparse.values))
        return {"": dense, SPARSE_VECTOR_NAME: sparse}

    def _dense_params(self) -> Any:
        m = _models()
        rescore = m.QuantizationSearchParams(rescore=True, oversampling=OVERSAMPLING)
        return m.SearchParams(quantization=rescore) if self.quantization and not self._local else None

    @staticmethod
    def _sparse_vector(terms: SparseTerms) -> Any:
        return _models().SparseVector(indices=list(terms.indices), values=list(terms.values))

    def _run(self, must: list[FilterNode], *, limit: int, offset: int, **query: Any) -> list[tuple[str, float]]:
        with self._using("search") as client:
            response = client.query_points(
                self.collection_name,
                query_filter=_client_filter(must),
                limit=limit,
                offset=offset,
                with_payload=False,
                **query,
            )
        return _hits(response)

    def _query(
        self, vector: list[float], must: list[FilterNode], *, limit: int, offset: int
    ) -> list[tuple[str, float]]:
        return self._run(must, limit=limit, offset=offset, query=vector, search_params=self._dense_params())

    def _query_sparse(
        self, terms: SparseTerms, must: list[FilterNode], *, limit: int, offset: int
    ) -> list[tuple[str, float]]:
        return self._run(must, limit=limit, offset=offset, query=self._sparse_vector(terms), using=SPARSE_VECTOR_NAME)

    def _query_both(
        self, vector: list[float], terms: SparseTerms, must: list[FilterNode], *, limit: int
    ) -> tuple[list[tuple[str, float]], list[tuple[str, float]]]:
        m = _models()
        flt = _client_filter(must)
        requests = [
            m.QueryRequest(query=vector, filter=flt, limit=limit, params=self._dense_params(), with_payload=False),
            m.QueryRequest(
                query=self._sparse_vector(terms), using=SPARSE_VECTOR_NAME, filter=flt, limit=limit, with_payload=False
            ),
        ]
        with self._using("search") as client:
            dense, sparse = client.query_batch_points(self.collection_name, requests=requests)
        return _hits(dense), _hits(sparse)

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
        with self._lock, engine_errors("recreate"):
            self._client.delete_collection(self.collection_name)
            self._ensured = False
        self.ensure_collection()

    def healthy(self) -> bool:
        try:
            with engine_errors("health check"):
                self._client.get_collections()
        except VectorStoreError:
            return False
        return True

    def close(self) -> None:
        with engine_errors("close"):
            self._client.close()


def _hits(response: Any) -> list[tuple[str, float]]:
    """(id, score) pairs of a query's answer, best first."""
    return [(str(point.id), float(point.score)) for point in response.points]


def _models() -> Any:
    from qdrant_client import models

    return models


def _client_indexes() -> dict[str, Any]:
    m = _models()
    return {
        SCOPE_FIELD: m.KeywordIndexParams(type=m.KeywordIndexType.KEYWORD, is_tenant=True),
        "tenant": m.KeywordIndexParams(type=m.KeywordIndexType.KEYWORD, enable_hnsw=False),
        "namespace": m.KeywordIndexParams(type=m.KeywordIndexType.KEYWORD, enable_hnsw=False),
        "memory_type": m.KeywordIndexParams(type=m.KeywordIndexType.KEYWORD, enable_hnsw=False),
        "created_ts": m.FloatIndexParams(type=m.FloatIndexType.FLOAT, enable_hnsw=False),
        EQ_FIELD: m.KeywordIndexParams(type=m.KeywordIndexType.KEYWORD, enable_hnsw=False),
    }


def _field_index_params() -> dict[str, Callable[[], Any]]:
    """The operator's payload indexes (SOMA_VECTOR_INDEXED_KEYS), by kind."""
    m = _models()
    return {
        "keyword": lambda: m.KeywordIndexParams(type=m.KeywordIndexType.KEYWORD, enable_hnsw=False),
        "integer": lambda: m.IntegerIndexParams(type=m.IntegerIndexType.INTEGER, lookup=True, range=True),
        "float": lambda: m.FloatIndexParams(type=m.FloatIndexType.FLOAT, enable_hnsw=False),
        "bool": lambda: m.BoolIndexParams(type=m.BoolIndexType.BOOL),
        "datetime": lambda: m.DatetimeIndexParams(type=m.DatetimeIndexType.DATETIME),
    }


def _client_filter(must: list[FilterNode]) -> Any:
    # The nodes are already in Qdrant's JSON filter language, which its models parse.
    return _models().Filter.model_validate({"must": must}) if must else None
