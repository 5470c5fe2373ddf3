from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, Literal

from ninja import Field, Schema
from pydantic import AliasChoices, BaseModel, ConfigDict

from core.jsonrules import IsoDateTime, StrictNumber
from core.tenancy import NAME_REGEX
from memories.dedupe import DEFAULT_THRESHOLD
from memories.models import MAX_TTL_SECONDS

MemoryTypeLiteral = Literal["episodic", "semantic"]
DedupeLiteral = Literal["none", "exact", "semantic"]


class MemoryIn(Schema):
    payload: dict[str, Any]
    coord: str | list[StrictNumber] | None = Field(None, description="'1.0,2.0,3.0' or a list of 1-16 numbers")
    memory_type: MemoryTypeLiteral = "episodic"
    namespace: str = Field("default", pattern=NAME_REGEX)
    text: str | None = Field(None, max_length=20_000, description="What to embed; default: derived from payload")
    metadata: dict[str, Any] = Field(default_factory=dict)
    # strict: a JSON number, never "0.5" or true (one rule for numbers, memories.values).
    importance: float = Field(0.0, ge=0.0, le=1.0, strict=True)
    dedupe: DedupeLiteral = Field("none", description="exact: the same text; semantic: cosine >= dedupe_threshold")
    dedupe_threshold: float = Field(DEFAULT_THRESHOLD, ge=0.0, le=1.0, strict=True)
    pinned: bool = Field(False, strict=True, description="Never forgotten by a forget policy (it still expires)")
    expires_at: IsoDateTime | None = Field(None, description="ISO-8601; from then on the memory reads as deleted")
    ttl_seconds: int | None = Field(
        None, ge=1, le=MAX_TTL_SECONDS, strict=True, description="Expire this many seconds from now"
    )


class MemoryPatchIn(Schema):
    model_config = ConfigDict(extra="forbid")

    payload: dict[str, Any] | None = None
    text: str | None = Field(None, max_length=20_000)
    metadata: dict[str, Any] | None = None
    importance: float | None = Field(None, ge=0.0, le=1.0, strict=True)
    memory_type: MemoryTypeLiteral | None = None
    pinned: bool | None = Field(None, strict=True)
    expires_at: IsoDateTime | None = Field(None, description="null: never expires")
    ttl_seconds: int | None = Field(None, ge=1, le=MAX_TTL_SECONDS, strict=True)


class BatchIn(Schema):
    memories: list[dict[str, Any]] = Field(..., max_length=1000)


# A plain pydantic model read from the Memory's attributes by pydantic itself, not a ninja
# Schema: ninja passes every field of every item through a Python-level getter, a third of a
# repeated search's server time with 10 hits. Models that nest it validate it the same way.
class MemoryOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    coord: str | None = Field(validation_alias=AliasChoices("coord_key", "coord"))
    coordinate: list[float] | None
    namespace: str
    memory_type: str
    payload: dict[str, Any]
    text: str
    metadata: dict[str, Any]
    importance: float
    created_at: datetime
    updated_at: datetime
    vector_status: str
    version: int
    pinned: bool
    expires_at: datetime | None
    last_accessed_at: datetime | None
    access_count: int


class MemoryEnvelopeOut(Schema):
    memory: MemoryOut


class MemoryCreatedOut(Schema):
    memory: MemoryOut
    coord: str | None
    memory_type: str
    created: bool
    duplicate_of: uuid.UUID | None = None


class MemoryDeletedOut(Schema):
    deleted: bool
    id: uuid.UUID | None = Field(..., description="Null when a coordinate named no memory")
    coord: str | None


class MemoryListOut(Schema):
    items: list[MemoryOut]
    next_cursor: str | None


class BatchItemOut(Schema):
    id: uuid.UUID
    coord: str | None
    duplicate_of: uuid.UUID | None = None


class BatchOut(Schema):
    created: int
    updated: int
    duplicates: int = 0
    memories: list[BatchItemOut]


class HistoryItemOut(BaseModel):
    version: int
    event: str
    at: datetime
    actor: str
    changed: list[str]
    memory: MemoryOut = Field(validation_alias=AliasChoices("snapshot", "memory"))

    model_config = ConfigDict(from_attributes=True)


class HistoryOut(Schema):
    items: list[HistoryItemOut]
    next_cursor: str | None


class RestoreIn(Schema):
    model_config = ConfigDict(extra="forbid")

    version: int | None = Field(
        None,
        ge=1,
        le=2_147_483_647,
        strict=True,
        description="default: the last version before the deletion, or the previous one",
    )


class RestoreOut(Schema):
    memory: MemoryOut
    restored_version: int


class ForgetIn(Schema):
    model_config = ConfigDict(extra="forbid")

    namespace: str = Field("default", pattern=NAME_REGEX)
    memory_type: MemoryTypeLiteral | None = None
    # Any JSON value: the filter parser answers 400 invalid_filter for what is not an object.
    filters: Any = None
    max_age_days: float | None = Field(None, ge=0, le=1_000_000, strict=True)
    max_inactive_days: float | None = Field(None, ge=0, le=1_000_000, strict=True)
    keep_top_n: int | None = Field(None, ge=0, le=1_000_000_000, strict=True)
    dry_run: bool = Field(True, strict=True)
    reference_time: IsoDateTime | None = Field(None, description="The 'now' of the rules (default: now)")


class ForgetOut(Schema):
    dry_run: bool
    count: int
    ids: list[uuid.UUID]
