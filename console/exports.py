"""JSON Lines export of memories: one object per line, streamed so a large selection never sits in memory."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

from django.db.models import QuerySet

from memories.models import Memory

EXPORT_CHUNK = 500


def memory_export_record(memory: Memory) -> dict[str, Any]:
    return {
        "id": str(memory.id),
        "coord": memory.coord_key,
        "namespace": memory.namespace,
        "memory_type": memory.memory_type,
        "payload": memory.payload,
        "text": memory.text,
        "metadata": memory.metadata,
        "importance": memory.importance,
        "created_at": memory.created_at.isoformat(),
    }


def memory_export_lines(queryset: QuerySet[Memory]) -> Iterator[str]:
    # The changelist's queryset defers the large columns; an export needs all of them.
    for memory in queryset.defer(None).order_by("created_at", "id").iterator(chunk_size=EXPORT_CHUNK):
        yield json.dumps(memory_export_record(memory), ensure_ascii=False, separators=(",", ":")) + "\n"
