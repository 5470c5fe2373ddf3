"""What the vectors tests build: points for the stores, memories written through the services."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from memories.models import Memory
from memories.services.create import MemoryDraft, memory_batch_upsert
from vectors.embedding import MODEL_NAME
from vectors.sparse import bm25_document
from vectors.stores.base import VectorPoint
from vectors.stores.edge import EdgeStore

DIM = 384
T0 = datetime(2024, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class Cond:
    """A filter condition as the stores take it (memories.filters builds them from a request)."""

    key: str
    op: str
    value: Any


def unit(seed: int) -> np.ndarray:
    vector = np.random.default_rng(seed).standard_normal(DIM).astype(np.float32)
    return vector / np.linalg.norm(vector)


def near(vector: np.ndarray, noise: float, seed: int) -> np.ndarray:
    moved = vector + noise * unit(seed)
    return moved / np.linalg.norm(moved)


def pid(seed: int) -> str:
    """The id of `point(seed)`."""
    return str(uuid.UUID(int=seed + 1))


def point(
    seed: int,
    *,
    tenant: str = "acme",
    namespace: str = "default",
    memory_type: str = "episodic",
    created: datetime = T0,
    payload: dict[str, Any] | None = None,
    metadata: dict[str, Any] | None = None,
    vector: np.ndarray | None = None,
    text: str | None = None,
) -> VectorPoint:
    """A point of vector `unit(seed)` (or `vector`); with `text`, its BM25 sparse vector too."""
    return VectorPoint(
        id=pid(seed),
        vector=unit(seed) if vector is None else vector,
        tenant=tenant,
        namespace=namespace,
        memory_type=memory_type,
        created_ts=created.timestamp(),
        payload=payload or {},
        metadata=metadata or {},
        sparse=bm25_document(text) if text is not None else None,
    )


def ids_of(hits: list[tuple[str, float]]) -> list[str]:
    return [hit_id for hit_id, _ in hits]


# The query the points of `filled` are ranked around.
QUERY = unit(4242)


def filled(root: Path, count: int = 300) -> EdgeStore:
    """An embedded store of `count` points, all unindexed, at distances from QUERY that grow with their seed."""
    store = EdgeStore(root, model_name=MODEL_NAME)
    store.upsert([point(i, vector=near(QUERY, 0.1 + i / 100, i)) for i in range(count)])
    return store


def quantized_segments(store: EdgeStore) -> list[Path]:
    """Segments holding int8 vectors: only an index build writes them."""
    return list(store.shard_path.glob("segments/*/vector_storage/quantized.data"))


def stored(*texts: str, tenant: str = "default", namespace: str = "default") -> list[Memory]:
    """Memories written without running the after-commit indexing: they stay pending."""
    drafts = [MemoryDraft(payload={"content": text}, namespace=namespace) for text in texts]
    ids = [result.memory_id for result in memory_batch_upsert(tenant=tenant, drafts=drafts)]
    by_id = Memory.objects.in_bulk(ids)
    return [by_id[memory_id] for memory_id in ids]


def statuses() -> dict[str, str]:
    return dict(Memory.objects.values_list("text", "vector_status"))
