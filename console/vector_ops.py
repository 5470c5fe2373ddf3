"""The console's calls into `vectors`, failing soft: the admin renders and saves with the vector store down."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field

from memories.models import Memory
from vectors.selectors import memory_similar
from vectors.services.indexing import IndexSummary, memories_index

logger = logging.getLogger("soma.console")

UNAVAILABLE = "Vector store unavailable"


@dataclass
class SimilarMemories:
    items: list[tuple[Memory, float]] = field(default_factory=list)
    error: str | None = None


def similar_memories(*, memory: Memory, limit: int = 10) -> SimilarMemories:
    try:
        return SimilarMemories(items=memory_similar(memory=memory, limit=limit))
    except Exception as exc:
        # Whatever broke (store, network, embedder), the page is still the way to fix the memory.
        logger.warning("similar memories for %s failed: %s", memory.pk, exc)
        return SimilarMemories(error=f"{UNAVAILABLE}: {exc}")


def memories_reembed(*, ids: Sequence[uuid.UUID]) -> IndexSummary:
    """Embed and upsert now. Never raises: failures come back counted, with their reasons."""
    if not ids:
        return IndexSummary()
    return memories_index(ids=ids)
