"""Search: ranked ids from the vector store (or PostgreSQL full-text), memories from PostgreSQL.

Whatever ranks, the memories are then loaded from PostgreSQL in one query, in rank order, so a
memory deleted in PostgreSQL is never returned even if its point lingers in the store.
"""

from __future__ import annotations

import contextlib
import logging
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from django.contrib.postgres.search import SearchQueryField, SearchRank
from django.db.models import BooleanField, F, QuerySet, Value
from django.db.models.expressions import RawSQL

from core.errors import InvalidInput
from memories.dedupe import DedupeQuery
from memories.errors import MemoryErrorCode
from memories.filters import FilterCondition, conditions_to_q
from memories.models import SEARCH_CONFIG, Memory
from memories.selectors import memories_by_ids
from vectors import fusion, metrics
from vectors.backend import get_vector_store
from vectors.embedding import EmbeddingError
from vectors.errors import VectorErrorCode
from vectors.runtime import COOLDOWN_MARK, store_cooldown, texts_embed, vector_store_ready
from vectors.sparse import bm25_query
from vectors.stores.base import VectorStoreError

if TYPE_CHECKING:
    from vectors.ranking import Ranking

logger = logging.getLogger("soma.vectors")

SearchMode = Literal["vector", "keyword", "hybrid"]
SEARCH_MODES: tuple[SearchMode, ...] = ("vector", "keyword", "hybrid")
Ranked = list[tuple[str, float]]
# Candidates fetched at most to settle a tie at a page's end (the deepest page ends at 10,100).
MAX_TIE_FETCH = 20_000


@dataclass
class SearchResult:
    hits: list[tuple[Memory, float]] = field(default_factory=list)
    # True when the vector store or the embedder failed and PostgreSQL full-text answered.
    degraded: bool = False
    # The engine's ranking, (id, score) best first; None when PostgreSQL full-text answered.
    ranked: Ranked | None = None
    # With load=False: loads the hits of `ranked`, ranking further when some are expired.
    load: Callable[[], list[tuple[Memory, float]]] | None = None
    # With explain: each hit's score_details, by id.
    details: dict[uuid.UUID, dict[str, Any]] | None = None
    # A re-ranked answer left unloaded: the version of each row of `ranked`.
    versions: dict[uuid.UUID, str] | None = None


def query_vector(*, text: str) -> list[float]:
    """The query's embedding; a repeated text comes from the cache (keyed by model + sha256)."""
    vectors, _ = texts_embed(texts=[text])
    return vectors[0].tolist()


# Expired memories are hidden when the hits are loaded (the engine does not know expiry): a page
# that lost some ranks again from the top, up to this many candidates, until it is full.
MAX_REFILL_WINDOW = 2000


def memory_search(
    *,
    tenant: str,
    query: str,
    top_k: int = 5,
    offset: int = 0,
    namespace: str | None = None,
    memory_type: str | None = None,
    conditions: Sequence[FilterCondition] = (),
    mode: SearchMode = "vector",
    load: bool = True,
    ranking: Ranking | None = None,
) -> SearchResult:
    """The best `top_k` memories after `offset`, best first. Filters run before ranking, in the
    engine (payload indexes) or in the SQL, never by dropping hits afterwards; expired memories
    are left out like deleted ones. `ranking` (vectors.ranking) re-ranks by recency and
    importance, drops hits under min_score and explains the scores; it always loads.

    `load=False` leaves an engine ranking's memories unloaded (`hits` empty, `ranked` set,
    `load` to call) for a caller that loads them itself; the full-text fallback always loads them.

    Queries: one, to load the hits (none with load=False, unless degraded); two when re-ranking.
    """
    if mode not in SEARCH_MODES:
        raise InvalidInput(f"mode must be one of {', '.join(SEARCH_MODES)}.", VectorErrorCode.INVALID_MODE)
    scope = _Scope(tenant=tenant, namespace=namespace, memory_type=memory_type, conditions=list(conditions))
    started = time.perf_counter()
    rank = {"keyword": _sparse_ranked, "hybrid": _hybrid_ranked}.get(mode, _dense_ranked)
    if ranking is not None and ranking.active:
        result = ranking.search(scope, query, rank=rank, mode=mode, top_k=top_k, offset=offset, load=load)
        metrics.SEARCH_SECONDS.labels(mode=mode).observe(time.perf_counter() - started)
        return result
    try:
        ranked = rank(scope, query, limit=top_k, offset=offset)
    except (VectorStoreError, EmbeddingError) as exc:
        _note_failure(exc)
        result = SearchResult(hits=_keyword_hits(scope, query, limit=top_k, offset=offset), degraded=True)
    else:

        def load_visible() -> list[tuple[Memory, float]]:
            return _visible_hits(scope, query, rank=rank, ranked=ranked, limit=top_k, offset=offset)

        result = SearchResult(hits=load_visible() if load else [], ranked=ranked, load=load_visible)
    metrics.SEARCH_SECONDS.labels(mode=mode).observe(time.perf_counter() - started)
    return result


def _visible_hits(
    scope: _Scope, query: str, *, rank: Callable[..., Ranked], ranked: Ranked, limit: int, offset: int
) -> list[tuple[Memory, float]]:
    """The memories of a ranked page; if some are gone (expired, or deleted and not yet out of
    the engine) and the engine may hold more, rank again from the top with a wider window."""
    hits = ranked_memories(tenant=scope.tenant, ranked=ranked)
    if len(hits) == len(ranked) or len(ranked) < limit:
        return hits
    wanted = offset + limit
    window = wanted
    while window < MAX_REFILL_WINDOW:
        window = min(2 * window, MAX_REFILL_WINDOW)
        wide = rank(scope, query, limit=window, offset=0)
        hits = ranked_memories(tenant=scope.tenant, ranked=wide)
        if len(hits) >= wanted or len(wide) < window:
            break
    return hits[offset:wanted]


@dataclass
class _Scope:
    tenant: str
    namespace: str | None
    memory_type: str | None
    conditions: list[FilterCondition]

    def queryset(self) -> QuerySet[Memory]:
        queryset = Memory.objects.filter(tenant=self.tenant).visible()
        if self.namespace is not None:
            queryset = queryset.filter(namespace=self.namespace)
        if self.memory_type is not None:
            queryset = queryset.filter(memory_type=self.memory_type)
        return queryset.filter(conditions_to_q(self.conditions)) if self.conditions else queryset


def _note_failure(exc: Exception) -> None:
    operation = "search" if isinstance(exc, VectorStoreError) else "embed"
    metrics.VECTOR_FAILURES.labels(operation=operation).inc()
    logger.warning("search degraded to PostgreSQL full-text: %s", exc)
    if isinstance(exc, VectorStoreError) and COOLDOWN_MARK not in str(exc):
        with contextlib.suppress(Exception):
            store_cooldown.failed(get_vector_store(), str(exc)[:300])


def _engine_ranked(
    search: Callable[..., Ranked],
    *queries: Any,
    scope: _Scope,
    limit: int,
    offset: int,
    first: Ranked | None = None,
    **extra: Any,
) -> Ranked:
    """One engine search (dense, sparse or hybrid) in the scope; a filter the engine refuses is a 400.

    Totally ordered, score then id: the engine breaks ties arbitrarily (and differently from one
    call to the next), so pages cut from its own offset repeated or skipped tied memories. Every
    page is cut here from the top `offset + limit` sorted by (-score, id), fetching more while
    the last candidate still ties the page's last score (a tie may run past what was fetched).
    `first`: the answer of the first fetch (`offset + limit + 1` hits), when already made.
    """
    window = offset + limit
    fetch = window + 1
    while True:
        ranked = first if first is not None else _engine_search(search, *queries, scope=scope, limit=fetch, **extra)
        first = None
        ranked.sort(key=lambda hit: (-hit[1], hit[0]))
        exhausted = len(ranked) < fetch
        if exhausted or len(ranked) <= window or ranked[-1][1] != ranked[window - 1][1] or fetch >= MAX_TIE_FETCH:
            return ranked[offset:window]
        fetch = min(fetch * 2, MAX_TIE_FETCH)


def _engine_search(search: Callable[..., Any], *queries: Any, scope: _Scope, limit: int, **extra: Any) -> Any:
    try:
        return search(
            *queries,
            tenant=scope.tenant,
            namespace=scope.namespace,
            memory_type=scope.memory_type,
            conditions=scope.conditions,
            limit=limit,
            **extra,
        )
    except ValueError as exc:
        raise InvalidInput(str(exc), MemoryErrorCode.INVALID_FILTER) from exc


def _dense_ranked(scope: _Scope, query: str, *, limit: int, offset: int) -> Ranked:
    store = vector_store_ready()
    return _engine_ranked(store.search, query_vector(text=query), scope=scope, limit=limit, offset=offset)


# Any query term may match (plainto_tsquery's "&" turned into "|"), ranked by ts_rank with
# length normalisation: on SciFact's long claims that scored nDCG@10 0.60, where PostgreSQL's
# all-terms websearch/plainto queries scored 0.07 (bench/scifact_offline.py).
_ANY_TERM_TSQUERY = "to_tsquery(%s::regconfig, replace(plainto_tsquery(%s::regconfig, %s)::text, ' & ', ' | '))"


def _keyword_matches(scope: _Scope, query: str) -> QuerySet[Memory]:
    """PostgreSQL full-text, the fallback when the vector store or the embedder is down."""
    # The query text is a bound parameter, never spliced into the SQL.
    params = (SEARCH_CONFIG, SEARCH_CONFIG, query)
    tsquery = RawSQL(_ANY_TERM_TSQUERY, params, output_field=SearchQueryField())  # noqa: S611
    matches = RawSQL(  # noqa: S611
        f'"memories_memory"."search_document" @@ {_ANY_TERM_TSQUERY}', params, output_field=BooleanField()
    )
    return (
        scope.queryset()
        .alias(matches=matches)
        .filter(matches=True)
        .annotate(rank=SearchRank(F("search_document"), tsquery, normalization=Value(1)))
        .order_by("-rank", "id")
    )


def _sparse_ranked(scope: _Scope, query: str, *, limit: int, offset: int) -> Ranked:
    """BM25 in the engine (vectors.sparse): any query term counts, rare terms weigh more.
    On SciFact's long claims it scored nDCG@10 0.68, PostgreSQL's websearch (all terms) 0.07."""
    store = vector_store_ready()
    return _engine_ranked(store.search_sparse, bm25_query(query), scope=scope, limit=limit, offset=offset)


def _keyword_hits(scope: _Scope, query: str, *, limit: int, offset: int) -> list[tuple[Memory, float]]:
    memories = _keyword_matches(scope, query).defer("search_document")[offset : offset + limit]
    return [(memory, float(memory.rank)) for memory in memories]  # type: ignore[attr-defined]


def _hybrid_ranked(scope: _Scope, query: str, *, limit: int, offset: int) -> Ranked:
    """Dense and BM25 each fetch their top hits, fused here (vectors.fusion: z-scores against
    each side's own top hits, a side indifferent below its floor rank). LoCoMo R@5 / R@10 62.7 /
    71.3 against 57.9 / 66.5 for keyword alone; SciFact nDCG@10 0.736 (bench/fusion_offline.py)."""
    store = vector_store_ready()
    vector = query_vector(text=query)
    depth = fusion.candidates_depth(limit=limit, offset=offset)
    terms = bm25_query(query)
    # Both sides' first fetch in one engine call (no BM25 terms: no BM25 list); a side whose last
    # hits tie fetches more alone.
    dense, sparse = _engine_search(store.search_both, vector, terms, scope=scope, limit=depth + 1)
    dense = _engine_ranked(store.search, vector, scope=scope, limit=depth, offset=0, first=dense)
    sparse = _engine_ranked(store.search_sparse, terms, scope=scope, limit=depth, offset=0, first=sparse)
    return fusion.fused_page(dense, sparse, limit=limit, offset=offset)


def ranked_memories(*, tenant: str, ranked: Ranked) -> list[tuple[Memory, float]]:
    """The tenant's memories of an engine ranking, in its order, with their scores (one query).
    A memory gone from PostgreSQL is left out, whatever the engine still holds."""
    if not ranked:
        return []
    ids = [uuid.UUID(memory_id) for memory_id, _ in ranked]
    found = memories_by_ids(tenant=tenant, ids=ids)
    return [(found[memory_id], score) for memory_id, (_, score) in zip(ids, ranked, strict=True) if memory_id in found]


def memory_similar(*, memory: Memory, limit: int = 10) -> list[tuple[Memory, float]]:
    """Memories of the same tenant and namespace nearest to this one. Raises VectorStoreError."""
    store = vector_store_ready()
    vector = query_vector(text=memory.text)
    ranked = store.search(vector, tenant=memory.tenant, namespace=memory.namespace, limit=limit + 1)
    ranked = [(memory_id, score) for memory_id, score in ranked if memory_id != str(memory.pk)][:limit]
    return ranked_memories(tenant=memory.tenant, ranked=ranked)


def memory_duplicates_semantic(tenant: str, queries: Sequence[DedupeQuery]) -> list[uuid.UUID | None]:
    """For dedupe="semantic" (memories.dedupe): per query, the tenant's nearest memory in its
    namespace when its cosine reaches the query's threshold. One embedding call for all. With
    the store or the embedder down the write goes on without the check (logged)."""
    try:
        store = vector_store_ready()
        vectors, _ = texts_embed(texts=[query.text for query in queries])
        nearest = [
            store.search(vector.tolist(), tenant=tenant, namespace=query.namespace, limit=1)
            for query, vector in zip(queries, vectors, strict=True)
        ]
    except (VectorStoreError, EmbeddingError) as exc:
        logger.warning("semantic dedupe skipped, the memories are stored: %s", exc)
        return [None] * len(queries)
    candidates = [
        uuid.UUID(ranked[0][0]) if ranked and ranked[0][1] >= query.threshold else None
        for query, ranked in zip(queries, nearest, strict=True)
    ]
    live = memories_by_ids(tenant=tenant, ids=[c for c in candidates if c is not None]) if any(candidates) else {}
    return [c if c is not None and c in live else None for c in candidates]
