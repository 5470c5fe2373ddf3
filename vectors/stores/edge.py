"""The embedded vector store (qdrant-edge-py): searches, with a result cache, and writes."""

from __future__ import annotations

import json
from collections.abc import Hashable, Sequence
from typing import Any

import numpy as np
import qdrant_edge as qe

from vectors.sparse import SPARSE_VECTOR_NAME, SparseTerms
from vectors.stores.base import OVERSAMPLING, VectorPoint, normalize_id
from vectors.stores.filters import FilterNode
from vectors.stores.index_aside import IndexAsideStore

# Candidates an HNSW search explores. Against exact search, 200 SciFact claims over 100k
# memories in one scope: recall@10 0.955 at 32, 0.977 at 64, 0.992 at 128, 0.995 at 256
# (0.17 / 0.34 / 0.41 / 0.82 ms per search, int8 + rescoring; 2.7 ms without the graphs).
HNSW_EF = 256
# The embedded store answers a repeated search from memory until the next write: at 100k
# points an unindexed dense search costs ~8-30 ms, a cached one microseconds. Only EdgeStore,
# whose one process sees every write; a server has writers this process never hears about.
RESULT_CACHE_SIZE = 2048


class EdgeStore(IndexAsideStore):
    """Qdrant's engine in-process; one process locks its folder, so one worker only.

    Writes land in an unindexed segment, which search scans exactly (the scope index keeps
    the scan to one tenant's namespace). `index_aside` (the serving process, through a child
    process) or `build_index` (offline) turn it into an indexed one: int8 quantized vectors
    and, with hnsw=True (the default), an HNSW graph per scope.
    """

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
        return self._run_batch([(key, request)])[0]

    def _run_batch(self, requests: list[tuple[Hashable, qe.QueryRequest]]) -> list[list[tuple[str, float]]]:
        """Each request's hits, from the result cache or else all the missing ones in one engine
        batch (the engine plans a batch as a whole: one pass over the segments)."""
        with self._lock:
            generation = self._generation
            results = [self._results.get(key) for key, _ in requests]
            for (key, _), cached in zip(requests, results, strict=True):
                if cached is not None:
                    self._results.move_to_end(key)
        missing = [i for i, cached in enumerate(results) if cached is None]
        if missing:
            with self._using("search") as shard:
                if len(missing) == 1:
                    answers = [shard.query(requests[missing[0]][1])]
                else:
                    answers = shard.query_batch(qe.QueryBatchRequest([requests[i][1] for i in missing]))
            with self._lock:
                for i, hits in zip(missing, answers, strict=True):
                    results[i] = result = [(str(hit.id), float(hit.score)) for hit in hits]
                    if generation == self._generation:
                        self._results[requests[i][0]] = result
                while len(self._results) > RESULT_CACHE_SIZE:
                    self._results.popitem(last=False)
        return [list(result or ()) for result in results]

    @staticmethod
    def _key(kind: str, query: Any, must: list[FilterNode], *numbers: int) -> Hashable:
        flt = json.dumps(must, sort_keys=True, default=str)
        return (kind, query, flt, *numbers)

    def _dense_request(
        self, vector: list[float], must: list[FilterNode], *, limit: int, offset: int
    ) -> tuple[Hashable, qe.QueryRequest]:
        vector_key = np.asarray(vector, dtype=np.float32).tobytes()
        request = qe.QueryRequest(
            limit=limit,
            offset=offset,
            query=qe.Query.Nearest(vector),
            filter=_edge_filter(must),
            params=self._dense_params(),
            with_payload=False,
        )
        return self._key("dense", vector_key, must, limit, offset), request

    def _sparse_request(
        self, terms: SparseTerms, must: list[FilterNode], *, limit: int, offset: int
    ) -> tuple[Hashable, qe.QueryRequest]:
        flt = _edge_filter(must)
        request = qe.QueryRequest(
            limit=limit, offset=offset, query=self._sparse_query(terms), filter=flt, with_payload=False
        )
        return self._key("sparse", terms, must, limit, offset), request

    def _query(
        self, vector: list[float], must: list[FilterNode], *, limit: int, offset: int
    ) -> list[tuple[str, float]]:
        return self._run(*self._dense_request(vector, must, limit=limit, offset=offset))

    def _query_sparse(
        self, terms: SparseTerms, must: list[FilterNode], *, limit: int, offset: int
    ) -> list[tuple[str, float]]:
        return self._run(*self._sparse_request(terms, must, limit=limit, offset=offset))

    def _query_both(
        self, vector: list[float], terms: SparseTerms, must: list[FilterNode], *, limit: int
    ) -> tuple[list[tuple[str, float]], list[tuple[str, float]]]:
        # Cached under the same keys as _query and _query_sparse: the lists are theirs.
        dense, sparse = self._run_batch(
            [
                self._dense_request(vector, must, limit=limit, offset=0),
                self._sparse_request(terms, must, limit=limit, offset=0),
            ]
        )
        return dense, sparse

    def _count(self, must: list[FilterNode]) -> int:
        with self._using("count") as shard:
            return shard.count(qe.CountRequest(exact=True, filter=_edge_filter(must)))

    def _scroll(self, must: list[FilterNode], *, offset: Any, limit: int) -> tuple[list[str], Any]:
        flt = _edge_filter(must)
        request = qe.ScrollRequest(offset=offset, limit=limit, filter=flt, with_payload=False)
        with self._using("scroll") as shard:
            records, next_offset = shard.scroll(request)
        return [str(record.id) for record in records], next_offset


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
