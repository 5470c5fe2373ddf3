"""The ranking layer after relevance: recency, importance, min_score and explain.

The engine (or PostgreSQL full-text) gives each candidate a relevance score. When a search asks
for recency or importance, every candidate of a wider pool is scored

    final = (1 - w_r - w_i) * relevance + w_r * recency + w_i * importance

and the pool is sorted by `final` (ties: the relevance order). `relevance` is on 0..1: a cosine
as it is (clipped at 0), any other score (BM25, the fused hybrid score, full-text rank) divided
by the best candidate's. `recency` is the fresher of two exponential decays measured from
`reference_time` (default now): since creation, halving every `half_life_days`, and since the
last access (a read or a search hit), halving every `access_half_life_days`; 1.0 for a memory
as new as the reference time. With both weights 0 nothing is re-scored: the order and the
scores are exactly relevance's, and `min_score` / `explain` only filter and describe them.

`score_details` holds the raw `vector` and `keyword` scores (null where a side did not score
the hit) and the three weighted parts `relevance`, `recency`, `importance`, whose sum is
`final` (the hit's `score`); `weights` says how each was weighted, so the raw values can be
read back (part / weight).

Why the pool is wider than the page: a candidate can gain at most w_r + w_i over another by
recency and importance, so a memory just below the page by relevance can win. The pool is
max(SOMA_SEARCH_RERANK_POOL (50), 4 x (offset + top_k)), at most 500 (or offset + top_k when
that is more): a dense or BM25 scan costs about the same for 50 candidates as for 10 (the
engine reads them all anyway), and reading 50 narrow rows from PostgreSQL is one ~0.5 ms query.
"""

from __future__ import annotations

import math
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from django.conf import settings
from django.utils import timezone

from core.errors import InvalidInput
from memories.errors import MemoryErrorCode
from memories.models import Memory
from memories.selectors import memory_ranking_columns
from vectors import selectors

MAX_POOL = 500
POOL_FACTOR = 4
SECONDS_PER_DAY = 86400.0


@dataclass(frozen=True)
class Ranking:
    recency_weight: float = 0.0
    half_life_days: float = 30.0
    access_half_life_days: float = 7.0
    importance_weight: float = 0.0
    min_score: float | None = None
    explain: bool = False
    reference_time: datetime | None = None

    @property
    def reorders(self) -> bool:
        return self.recency_weight > 0 or self.importance_weight > 0

    @property
    def active(self) -> bool:
        return self.reorders or self.explain or self.min_score is not None

    @property
    def relevance_weight(self) -> float:
        return 1.0 - self.recency_weight - self.importance_weight

    def now(self) -> datetime:
        return self.reference_time or timezone.now()

    def search(self, scope: selectors._Scope, query: str, **kwargs: Any) -> selectors.SearchResult:
        """memory_search's re-ranked answer (selectors hands over here: it does not import this module)."""
        return search_ranked(scope, query, ranking=self, **kwargs)


def ranking_from(
    *,
    recency: Mapping[str, Any] | None = None,
    importance_weight: float | None = None,
    min_score: float | None = None,
    explain: bool = False,
    reference_time: datetime | None = None,
) -> Ranking:
    """A request's ranking: its options over the server's defaults (settings.SOMA_SEARCH_*)."""
    recency = dict(recency or {})
    unknown = set(recency) - {"weight", "half_life_days", "access_half_life_days"}
    if unknown:
        raise _invalid(f"recency takes weight, half_life_days and access_half_life_days, not {sorted(unknown)}.")
    ranking = Ranking(
        recency_weight=_number(recency.get("weight", settings.SOMA_SEARCH_RECENCY_WEIGHT), "recency.weight"),
        half_life_days=_number(recency.get("half_life_days", settings.SOMA_SEARCH_HALF_LIFE_DAYS), "half_life_days"),
        access_half_life_days=_number(
            recency.get("access_half_life_days", settings.SOMA_SEARCH_ACCESS_HALF_LIFE_DAYS), "access_half_life_days"
        ),
        importance_weight=_number(
            settings.SOMA_SEARCH_IMPORTANCE_WEIGHT if importance_weight is None else importance_weight,
            "importance_weight",
        ),
        min_score=settings.SOMA_SEARCH_MIN_SCORE if min_score is None else _number(min_score, "min_score"),
        explain=bool(explain),
        reference_time=_aware(reference_time) if reference_time is not None else None,
    )
    if not 0 <= ranking.recency_weight <= 1 or not 0 <= ranking.importance_weight <= 1:
        raise _invalid("recency.weight and importance_weight must be between 0 and 1.")
    if ranking.recency_weight + ranking.importance_weight > 1:
        raise _invalid("recency.weight + importance_weight must be at most 1 (what is left weighs relevance).")
    if not ranking.half_life_days > 0 or not ranking.access_half_life_days > 0:
        raise _invalid("half_life_days and access_half_life_days must be more than 0.")
    return ranking


def _number(value: Any, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise _invalid(f"{name} must be a finite number.")
    return float(value)


def _aware(value: datetime) -> datetime:
    return timezone.make_aware(value, UTC) if timezone.is_naive(value) else value


def _invalid(detail: str) -> InvalidInput:
    return InvalidInput(detail, MemoryErrorCode.INVALID_RANKING)


def pool_size(*, top_k: int, offset: int) -> int:
    wanted = offset + top_k
    return max(wanted, min(MAX_POOL, max(settings.SOMA_SEARCH_RERANK_POOL, POOL_FACTOR * wanted)))


def recency_of(*, created_ts: float, accessed_ts: float | None, now_ts: float, ranking: Ranking) -> float:
    """The fresher of the creation decay and the last-access decay, in 0..1 (epoch seconds in)."""
    fresh = 0.5 ** (max(0.0, now_ts - created_ts) / SECONDS_PER_DAY / ranking.half_life_days)
    if accessed_ts is not None:
        idle = max(0.0, now_ts - accessed_ts) / SECONDS_PER_DAY
        fresh = max(fresh, 0.5 ** (idle / ranking.access_half_life_days))
    return fresh


@dataclass(frozen=True)
class Candidate:
    """What scoring needs of a memory: its id (canonical UUID text), relevance, three columns."""

    id: str
    score: float
    created_ts: float
    accessed_ts: float | None
    importance: float
    # The row's version (memories.selectors._ROW_VERSION), where the pool query read it.
    version: str | None = None


def score_candidates(
    candidates: list[Candidate], *, ranking: Ranking, cosine: bool, sides: Mapping[str, Mapping[str, float]]
) -> list[tuple[Candidate, dict[str, Any]]]:
    """Each candidate with its score_details, best first by `final` (stable: ties keep the
    relevance order the candidates came in). `sides` maps "vector"/"keyword" to the raw score
    each side gave (a hit missing from a side gets null)."""
    now_ts = ranking.now().timestamp()
    reorders = ranking.reorders
    scale = 1.0
    if reorders and not cosine:
        best = max((c.score for c in candidates), default=0.0)
        scale = 1.0 / best if best > 0 else 1.0
    weights = {"relevance": ranking.relevance_weight, "recency": ranking.recency_weight}
    weights["importance"] = ranking.importance_weight
    scored = []
    for candidate in candidates:
        if reorders:
            relevance = candidate.score * scale
            relevance = min(max(relevance, 0.0), 1.0)
            recency = recency_of(
                created_ts=candidate.created_ts, accessed_ts=candidate.accessed_ts, now_ts=now_ts, ranking=ranking
            )
            parts = (
                weights["relevance"] * relevance,
                weights["recency"] * recency,
                weights["importance"] * candidate.importance,
            )
        else:
            # Relevance alone: the score as the engine gave it.
            parts = (candidate.score, 0.0, 0.0)
        details: dict[str, Any] = {
            "vector": sides["vector"].get(candidate.id) if "vector" in sides else None,
            "keyword": sides["keyword"].get(candidate.id) if "keyword" in sides else None,
            "relevance": parts[0],
            "recency": parts[1],
            "importance": parts[2],
            "final": parts[0] + parts[1] + parts[2],
            "weights": weights,
        }
        scored.append((candidate, details))
    if reorders:
        scored.sort(key=lambda item: -item[1]["final"])
    if ranking.min_score is not None:
        floor = ranking.min_score
        scored = [item for item in scored if item[1]["final"] >= floor]
    return scored


# --- the search itself ------------------------------------------------------------


def search_ranked(
    scope: selectors._Scope,
    query: str,
    *,
    rank: Callable[..., selectors.Ranked],
    mode: selectors.SearchMode,
    top_k: int,
    offset: int,
    ranking: Ranking,
    load: bool = True,
) -> selectors.SearchResult:
    """Re-ranked (recency, importance) over a wider pool, or relevance with min_score/explain.
    With load=False a re-ranked engine answer is left unloaded: `ranked` holds the chosen ids
    with their final scores and `versions` their rows' versions (soma_project.search_cache)."""
    limit, start = (pool_size(top_k=top_k, offset=offset), 0) if ranking.reorders else (top_k, offset)
    degraded = False
    hits: list[tuple[Memory, float]] | None = None
    try:
        ranked = rank(scope, query, limit=limit, offset=start)
    except (selectors.VectorStoreError, selectors.EmbeddingError) as exc:
        # PostgreSQL full-text answers (its SQL leaves expired memories out), as for any search.
        selectors._note_failure(exc)
        degraded = True
        hits = selectors._keyword_hits(scope, query, limit=limit, offset=start)
        ranked = [(str(memory.pk), score) for memory, score in hits]
    sides: dict[str, dict[str, float]] = {}
    if ranking.explain:
        sides = _side_scores(scope, query, mode="keyword" if degraded else mode, ranked=ranked, limit=limit)
    if ranking.reorders:
        candidates = _candidates(scope.tenant, ranked)
    else:
        if hits is None:
            hits = selectors._visible_hits(scope, query, rank=rank, ranked=ranked, limit=top_k, offset=offset)
        candidates = [
            Candidate(
                id=str(m.pk),
                score=score,
                created_ts=m.created_at.timestamp(),
                accessed_ts=m.last_accessed_at.timestamp() if m.last_accessed_at else None,
                importance=m.importance,
            )
            for m, score in hits
        ]
        loaded = {str(m.pk): m for m, _ in hits}
    scored = score_candidates(candidates, ranking=ranking, cosine=mode == "vector" and not degraded, sides=sides)
    if ranking.reorders:
        scored = scored[offset : offset + top_k]
        if not load and not degraded:
            return selectors.SearchResult(
                ranked=[(candidate.id, details["final"]) for candidate, details in scored],
                details={uuid.UUID(c.id): details for c, details in scored} if ranking.explain else None,
                versions={uuid.UUID(c.id): c.version or "" for c, _ in scored},
            )
        found = selectors.memories_by_ids(tenant=scope.tenant, ids=[uuid.UUID(c.id) for c, _ in scored])
        loaded = {str(memory_id): memory for memory_id, memory in found.items()}
    chosen = [(candidate, details) for candidate, details in scored if candidate.id in loaded]
    return selectors.SearchResult(
        hits=[(loaded[candidate.id], details["final"]) for candidate, details in chosen],
        degraded=degraded,
        details={loaded[c.id].pk: details for c, details in chosen} if ranking.explain else None,
    )


def _candidates(tenant: str, ranked: selectors.Ranked) -> list[Candidate]:
    """The pool's visible memories, in the engine's order, with only what scoring reads."""
    rows = {row[0]: row for row in memory_ranking_columns(tenant=tenant, ids=[memory_id for memory_id, _ in ranked])}
    return [
        Candidate(
            id=memory_id,
            score=score,
            created_ts=row[1],
            accessed_ts=row[2],
            importance=row[3],
            version=row[4],
        )
        for memory_id, score in ranked
        if (row := rows.get(memory_id)) is not None
    ]


def _side_scores(
    scope: selectors._Scope, query: str, *, mode: str, ranked: selectors.Ranked, limit: int
) -> dict[str, dict[str, float]]:
    """The raw scores explain shows: the mode's own, or for hybrid each side's over its own top
    `limit` (engine searches of their own; a hit outside a side's top gets null)."""
    own = dict(ranked)
    if mode == "vector":
        return {"vector": own}
    if mode == "keyword":
        return {"keyword": own}
    sides: dict[str, dict[str, float]] = {}
    for side, rank in (("vector", selectors._dense_ranked), ("keyword", selectors._sparse_ranked)):
        try:
            sides[side] = dict(rank(scope, query, limit=limit, offset=0))
        except (selectors.VectorStoreError, selectors.EmbeddingError):
            sides[side] = {}
    return sides
