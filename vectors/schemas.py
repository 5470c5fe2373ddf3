from __future__ import annotations

import uuid
from typing import Any, Literal

from ninja import Field, Schema
from pydantic import BaseModel

from memories.schemas import NAME_REGEX, MemoryOut, MemoryTypeLiteral

SearchModeLiteral = Literal["vector", "keyword", "hybrid"]
MAX_QUERY_CHARS = 2000
MAX_TOP_K = 100
MAX_OFFSET = 10_000
MAX_EXPAND_HOPS = 2
MAX_CONTEXT_TURNS = 5
CONTEXT_HELP = (
    "Give each hit this many neighbouring turns before and after it in its namespace (by metadata.seq, else by"
    " creation order)"
)
FILTERS_HELP = 'Over payload and metadata keys, e.g. {"user_id": "u1", "score": {"gte": 0.5}}'


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


class SearchQueryIn(SearchIn):
    """GET: the same fields from the query string (text, read as ASCII integers); `filters` is JSON text."""

    top_k: int = Field(5, ge=1, le=MAX_TOP_K)
    offset: int = Field(0, ge=0, le=MAX_OFFSET)
    filters: str | None = Field(None, max_length=10_000, description=FILTERS_HELP + " (JSON text)")
    expand_hops: int = Field(0, ge=0, le=MAX_EXPAND_HOPS, description="Add memories linked to the hits")
    context: int = Field(0, ge=0, le=MAX_CONTEXT_TURNS, description=CONTEXT_HELP)


class ViaOut(BaseModel):
    id: uuid.UUID = Field(..., description="The hit this memory is linked to")
    link_type: str
    strength: float
    depth: int


class SearchHitOut(MemoryOut):
    # None for memories added by expand_hops: they were reached by a link, not ranked.
    score: float | None
    via: ViaOut | None = None
    # With `context`: the hit's neighbouring turns in order (before, then after); else None.
    context: list[MemoryOut] | None = None


class SearchOut(BaseModel):
    memories: list[SearchHitOut]
    degraded: bool
