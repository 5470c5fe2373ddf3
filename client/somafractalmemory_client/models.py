"""The API's answers as pydantic models. Unknown fields are kept (`extra="allow"`), so a newer
server's additions never break an older client; fields newer than 1.3 have defaults."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

MemoryType = Literal["episodic", "semantic"]
SearchMode = Literal["vector", "keyword", "hybrid"]
Direction = Literal["out", "in", "both"]
Dedupe = Literal["none", "exact", "semantic"]


class Model(BaseModel):
    model_config = ConfigDict(extra="allow")


class Memory(Model):
    id: uuid.UUID
    coord: str | None = None
    coordinate: list[float] | None = None
    namespace: str = "default"
    memory_type: str = "episodic"
    payload: dict[str, Any] = Field(default_factory=dict)
    text: str = ""
    metadata: dict[str, Any] = Field(default_factory=dict)
    importance: float = 0.0
    created_at: datetime
    updated_at: datetime
    vector_status: str = "pending"
    version: int | None = None
    pinned: bool = False
    expires_at: datetime | None = None
    last_accessed_at: datetime | None = None
    access_count: int = 0


class Via(Model):
    id: uuid.UUID
    link_type: str
    strength: float
    depth: int


class SearchHit(Memory):
    score: float | None = None
    via: Via | None = None
    score_details: dict[str, float | None] | None = None


class SearchResult(Model):
    memories: list[SearchHit]
    degraded: bool = False


class MemoryCreated(Model):
    memory: Memory
    coord: str | None = None
    memory_type: str = "episodic"
    created: bool
    duplicate_of: uuid.UUID | None = None


class MemoryDeleted(Model):
    deleted: bool
    id: uuid.UUID | None = None
    coord: str | None = None


class MemoryPage(Model):
    items: list[Memory]
    next_cursor: str | None = None


class BatchItem(Model):
    id: uuid.UUID
    coord: str | None = None


class BatchResult(Model):
    created: int
    updated: int
    memories: list[BatchItem]


class HistoryEntry(Model):
    version: int
    event: str
    at: datetime
    actor: str | None = None
    changed: list[str] = Field(default_factory=list)
    memory: Memory | None = None


class HistoryPage(Model):
    items: list[HistoryEntry]
    next_cursor: str | None = None


class Restored(Model):
    memory: Memory
    restored_version: int


class ForgetResult(Model):
    dry_run: bool
    count: int
    ids: list[uuid.UUID] = Field(default_factory=list)


class Link(Model):
    id: int | None = None
    from_id: uuid.UUID | None = None
    to_id: uuid.UUID | None = None
    from_coord: str | None = None
    to_coord: str | None = None
    link_type: str
    strength: float = 1.0
    metadata: dict[str, Any] = Field(default_factory=dict)
    created_at: datetime | None = None


class LinkSaved(Model):
    link: Link
    ok: bool = True
    created: bool


class LinkDeleted(Model):
    deleted: bool
    from_id: uuid.UUID | None = None
    to_id: uuid.UUID | None = None
    from_coord: str | None = None
    to_coord: str | None = None
    link_type: str | None = None


class LinkPage(Model):
    links: list[Link]
    next_cursor: str | None = None


class Neighbor(Model):
    id: uuid.UUID | None = None
    coord: str | None = None
    coordinate: list[float] | None = None
    depth: int
    link_type: str
    strength: float
    memory: Memory | None = None


class Neighbors(Model):
    coord: str | None = None
    id: uuid.UUID | None = None
    neighbors: list[Neighbor]


class Path(Model):
    found: bool
    path: list[str] = Field(default_factory=list)
    ids: list[uuid.UUID | None] = Field(default_factory=list)
    link_types: list[str] = Field(default_factory=list)
    length: int = 0


class Liveness(Model):
    status: str


class Readiness(Model):
    kv_store: bool
    vector_store: bool
    graph_store: bool
    cache: bool

    @property
    def ready(self) -> bool:
        return self.kv_store and self.vector_store and self.graph_store and self.cache


class ServiceHealth(Model):
    name: str
    healthy: bool
    latency_ms: float | None = None


class Health(Model):
    healthy: bool
    status: str
    version: str
    uptime_seconds: float
    services: list[ServiceHealth]
    database: dict[str, Any] = Field(default_factory=dict)


class Stats(Model):
    total_memories: int
    episodic: int
    semantic: int
    total_links: int
    vectors_pending: int = 0
