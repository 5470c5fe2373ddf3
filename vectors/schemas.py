from __future__ import annotations

import uuid
from typing import Any, Literal

from ninja import Field, Schema
from pydantic import BaseModel, ConfigDict, ValidationError

from core.constants import MAX_EXPAND_HOPS
from core.errors import InvalidInput
from core.jsonrules import IsoDateTime
from core.tenancy import NAME_REGEX
from memories.errors import MemoryErrorCode
from memories.schemas import MemoryOut, MemoryTypeLiteral

SearchModeLiteral = Literal["vector", "keyword", "hybrid"]
MAX_QUERY_CHARS = 2000
MAX_TOP_K = 100
MAX_OFFSET = 10_000
MAX_CONTEXT_TURNS = 5
CONTEXT_HELP = (
    "Give each hit this many neighbouring turns before and after it in its namespace (by metadata.seq, else by"
    " creation order)"
)
FILTERS_HELP = 'Over payload and metadata keys, e.g. {"user_id": "u1", "score": {"gte": 0.5}}'


class RecencyIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    weight: float = Field(..., ge=0.0, le=1.0, strict=True)
    half_life_days: float | None = Field(None, gt=0, le=1_000_000, strict=True, description="Creation-time half-life")
    access_half_life_days: float | None = Field(
        None, gt=0, le=1_000_000, strict=True, description="Last-access half-life"
    )


class SearchIn(Schema):
    # At least one non-blank character: a blank query has no meaning to rank by.
    query: str = Field(..., min_length=1, max_length=MAX_QUERY_CHARS, pattern=r"\S")
    # strict: in a JSON body a number is a JSON number, never "5" or true (as importance).
    top_k: int = Field(5, ge=1, le=MAX_TOP_K, strict=True)
    offset: int = Field(0, ge=0, le=MAX_OFFSET, strict=True)
    memory_type: MemoryTypeLiteral | None = None
    namespace: str = Field("default", pattern=NAME_REGEX)
    # Any JSON value: the filter parser answers 400 invalid_filter for what is not an object.
    filters: Any = Field(None, description=FILTERS_HELP + " (a JSON object)")
    mode: SearchModeLiteral = "vector"
    expand_hops: int = Field(0, ge=0, le=MAX_EXPAND_HOPS, strict=True, description="Add memories linked to the hits")
    context: int = Field(0, ge=0, le=MAX_CONTEXT_TURNS, strict=True, description=CONTEXT_HELP)
    # Ranking after relevance (vectors.ranking); left out: the server's defaults.
    min_score: float | None = Field(None, ge=-1e9, le=1e9, strict=True, description="Drop hits scoring below this")
    explain: bool = Field(False, strict=True, description="Give each hit its score_details")
    recency: RecencyIn | None = None
    importance_weight: float | None = Field(None, ge=0.0, le=1.0, strict=True)
    reference_time: IsoDateTime | None = Field(
        None, description="The 'now' of recency (ISO-8601), for reproducible results"
    )

    def recency_options(self) -> dict[str, Any] | None:
        return None if self.recency is None else self.recency.model_dump(exclude_none=True)


class SearchQueryIn(SearchIn):
    """GET: the same fields from the query string (text, read as ASCII integers); `filters` and
    `recency` are JSON text."""

    top_k: int = Field(5, ge=1, le=MAX_TOP_K)
    offset: int = Field(0, ge=0, le=MAX_OFFSET)
    filters: str | None = Field(None, max_length=10_000, description=FILTERS_HELP + " (JSON text)")
    expand_hops: int = Field(0, ge=0, le=MAX_EXPAND_HOPS, description="Add memories linked to the hits")
    context: int = Field(0, ge=0, le=MAX_CONTEXT_TURNS, description=CONTEXT_HELP)
    min_score: float | None = Field(None, ge=-1e9, le=1e9, description="Drop hits scoring below this")
    explain: bool = Field(False, description="Give each hit its score_details")
    importance_weight: float | None = Field(None, ge=0.0, le=1.0)
    recency: str | None = Field(None, max_length=1000, description='JSON, e.g. {"weight": 0.3}')  # type: ignore[assignment]

    def recency_options(self) -> dict[str, Any] | None:
        if not self.recency:
            return None
        try:
            return RecencyIn.model_validate_json(self.recency).model_dump(exclude_none=True)
        except ValidationError as exc:
            detail = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors()) or str(exc)
            raise InvalidInput(f"recency: {detail}", MemoryErrorCode.INVALID_RANKING) from None


class ViaOut(BaseModel):
    id: uuid.UUID = Field(..., description="The hit this memory is linked to")
    link_type: str
    strength: float
    depth: int


class ScoreDetailsOut(BaseModel):
    vector: float | None
    keyword: float | None
    relevance: float
    recency: float
    importance: float
    final: float
    weights: dict[str, float]


class SearchHitOut(MemoryOut):
    # None for memories added by expand_hops: they were reached by a link, not ranked.
    score: float | None
    via: ViaOut | None = None
    # With `context`: the hit's neighbouring turns in order (before, then after); else None.
    context: list[MemoryOut] | None = None
    # Only with explain (absent otherwise, so an ordinary answer is as it always was).
    score_details: ScoreDetailsOut | None = Field(None, exclude_if=lambda value: value is None)


class SearchOut(BaseModel):
    memories: list[SearchHitOut]
    degraded: bool
