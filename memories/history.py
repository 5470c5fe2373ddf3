"""What a version records: the snapshot of a memory and the fields a change touched.

One definition serves the ORM paths (`memory_snapshot`) and the folded SQL of the bulk upsert
(`snapshot_sql`, `changed_sql`), so a version reads the same whichever path wrote it.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from memories.models import Memory

# Snapshot key -> Memory attribute (= column). The keys are the API's Memory object.
SNAPSHOT_COLUMNS = {
    "id": "id",
    "coord": "coord_key",
    "coordinate": "coordinate",
    "namespace": "namespace",
    "memory_type": "memory_type",
    "payload": "payload",
    "text": "text",
    "metadata": "metadata",
    "importance": "importance",
    "created_at": "created_at",
    "updated_at": "updated_at",
    "vector_status": "vector_status",
    "version": "version",
    "pinned": "pinned",
    "expires_at": "expires_at",
    "last_accessed_at": "last_accessed_at",
    "access_count": "access_count",
}
# The fields a version's `changed` can name: what a client stores, not what the service derives.
TRACKED_FIELDS = (
    "coord",
    "namespace",
    "memory_type",
    "payload",
    "text",
    "metadata",
    "importance",
    "pinned",
    "expires_at",
)


def _json_value(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, uuid.UUID):
        return str(value)
    return value


def memory_snapshot(memory: Memory) -> dict[str, Any]:
    return {key: _json_value(getattr(memory, column)) for key, column in SNAPSHOT_COLUMNS.items()}


def changed_fields(before: dict[str, Any] | None, after: dict[str, Any] | None) -> list[str]:
    """Tracked fields that differ; every one of them when the memory did not exist on one side."""
    if before is None or after is None:
        return list(TRACKED_FIELDS)
    return [name for name in TRACKED_FIELDS if before.get(name) != after.get(name)]


def snapshot_sql(alias: str) -> str:
    """`jsonb_build_object(...)` of the row `alias`, the same keys as `memory_snapshot`."""
    pairs = ", ".join(f"'{key}', {alias}.{column}" for key, column in SNAPSHOT_COLUMNS.items())
    return f"jsonb_build_object({pairs})"


def every_field_sql() -> str:
    """The `changed` of a memory that did not exist before: every tracked field."""
    every = ", ".join(f"'{name}'" for name in TRACKED_FIELDS)
    return f"ARRAY[{every}]::varchar[]"


def changed_sql(before: str, after: str) -> str:
    """The tracked fields whose columns differ between rows `before` and `after` (NULL before: all)."""
    checks = ", ".join(
        f"CASE WHEN {before}.{SNAPSHOT_COLUMNS[name]} IS DISTINCT FROM {after}.{SNAPSHOT_COLUMNS[name]} "
        f"THEN '{name}' END"
        for name in TRACKED_FIELDS
    )
    return (
        f"CASE WHEN {before}.id IS NULL THEN {every_field_sql()} "
        f"ELSE array_remove(ARRAY[{checks}]::varchar[], NULL) END"
    )
