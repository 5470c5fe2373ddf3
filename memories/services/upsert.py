"""The one statement that stores validated memory rows (a create, a batch) and records their versions."""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.db import connection

from core.db import prepared_cursor
from memories.aging import memories_expired_at_coordinates_purge
from memories.columns import MEMORY_COLUMNS, REPLACED_COLUMNS, WRITTEN_COLUMNS, column_list, values_row
from memories.history import changed_sql, every_field_sql, snapshot_sql
from memories.history_services import history_enabled
from memories.models import Memory, VectorStatus


@dataclass
class UpsertResult:
    memory_id: uuid.UUID
    coord: str | None
    created: bool
    # The row as stored, built from the statement's RETURNING (no reload).
    memory: Memory | None = None
    # The memory this item duplicated (dedupe): nothing was written for it.
    duplicate_of: uuid.UUID | None = None


# One statement, race-free: a coordinate that exists (or is inserted concurrently) in the
# tenant+namespace is replaced in place (same id, same created_at); `xmax = 0` tells the rows
# this statement inserted from those it updated. A bare graph node at the coordinate (linked
# before any memory was stored there) is filled in place the same way, keeping its id and so its
# links; that counts as a creation: the row then takes this statement's time as created_at, the
# same as its updated_at, which a replaced memory (created by an earlier statement) never has.
# The version each row gets is recorded in the same statement (`recorded`), so history costs
# the write path no round trip. Its join reads a replaced row as it was: every part of one
# statement sees the table as it was when the statement began, so `memories_memory` there holds
# the row before `stored` changed it. It is found by primary key: joined by coordinate, the
# planner picked memory_text_hash and scanned the whole tenant+namespace on every write. A row
# inserted concurrently is not in that snapshot: its version then lists every field as changed.
_INCOMING = f"""
WITH incoming ({column_list(WRITTEN_COLUMNS)}) AS (VALUES {{values}})"""
_REPLACED = "".join(f"\n        {name} = EXCLUDED.{name}," for name in REPLACED_COLUMNS)
_UPSERT_SQL = f""",
stored AS (
    INSERT INTO memories_memory
        ({column_list(WRITTEN_COLUMNS)}, vector_status, vector_model, vector_error, version)
    SELECT incoming.*, 'pending', '', '', 1 FROM incoming
    ON CONFLICT (tenant, namespace, coord_key) DO UPDATE SET{_REPLACED}
        vector_status = 'pending',
        vector_error = '',
        created_at = CASE WHEN memories_memory.bare_node THEN EXCLUDED.created_at ELSE memories_memory.created_at END,
        version = CASE WHEN memories_memory.bare_node THEN 1 ELSE memories_memory.version + 1 END,
        bare_node = false
    WHERE memories_memory.expires_at IS NULL OR memories_memory.expires_at > %s
    RETURNING memories_memory.*,
        (xmax = 0 OR memories_memory.created_at = memories_memory.updated_at) AS inserted
)"""  # noqa: S608
# A memory expired at that coordinate is not replaced (the WHERE): it returns no row, and the
# caller purges it and stores a new memory.
# Spliced in: the column lists of memories.history; the actor is a parameter.
_VERSION_SQL = """,
recorded AS (
    INSERT INTO memories_memoryversion (memory_id, tenant, version, event, actor, at, changed, snapshot, related)
    SELECT s.id, s.tenant, s.version, CASE WHEN s.inserted THEN 'created' ELSE 'updated' END, %s::varchar, s.updated_at,
           {changed}, {snapshot}, '{{}}'::jsonb
    FROM stored AS s{previous}
)"""
_HISTORY_SQL = _VERSION_SQL.format(
    changed=changed_sql("p", "s"),
    snapshot=snapshot_sql("s"),
    previous=" LEFT JOIN memories_memory AS p ON p.id = s.id AND NOT p.bare_node",
)
# Rows without a coordinate never meet a conflict: all of them are new, nothing to look up (the
# join would hash the whole table for a batch of them).
_HISTORY_NEW_SQL = _VERSION_SQL.format(changed=every_field_sql(), snapshot=snapshot_sql("s"), previous="")
_RETURN_SQL = """
SELECT id, namespace, coord_key, inserted, created_at, payload::text, metadata::text, vector_model, vector_epoch,
    version, last_accessed_at, access_count
FROM stored"""
_ROW_SQL = values_row(WRITTEN_COLUMNS)
_UPSERT_CHUNK = 500


def upsert_rows(rows: list[dict[str, Any]], *, tenant: str, now: datetime, actor: str) -> list[UpsertResult]:
    """Store the rows (in order); a row whose coordinate holds an expired memory purges that
    memory first, so it is stored as a new one, as if the expired one had been deleted."""
    found = _upsert_once(rows, now=now, actor=actor)
    blocked = [row for row, result in zip(rows, found, strict=True) if result is None]
    if blocked:
        memories_expired_at_coordinates_purge(tenant=tenant, keys=_coordinate_keys(blocked), now=now)
        again = iter(_upsert_once(blocked, now=now, actor=actor))
        found = [result if result is not None else next(again) for result in found]
    assert all(result is not None for result in found)
    return [result for result in found if result is not None]


def _upsert_once(rows: list[dict[str, Any]], *, now: datetime, actor: str) -> list[UpsertResult | None]:
    results: list[UpsertResult | None] = []
    record = history_enabled()
    # One memory (the API's create) is the hot path: that statement's one text is prepared once per
    # connection; a batch's text varies with its length, so it is planned each time.
    with prepared_cursor() if len(rows) == 1 else connection.cursor() as cursor:
        for start in range(0, len(rows), _UPSERT_CHUNK):
            chunk = rows[start : start + _UPSERT_CHUNK]
            params: list[Any] = [row[name] for row in chunk for name in WRITTEN_COLUMNS]
            params.append(now)
            sql = _INCOMING.format(values=", ".join([_ROW_SQL] * len(chunk))) + _UPSERT_SQL
            if record:
                replacing = any(row["coord_key"] is not None for row in chunk)
                sql += _HISTORY_SQL if replacing else _HISTORY_NEW_SQL
                params.append(actor)
            cursor.execute(sql + _RETURN_SQL, params)
            # RETURNING order is not promised: match rows by coordinate (or by id without one).
            returned = {}
            for memory_id, namespace, coord_key, *stored in cursor.fetchall():
                key = (namespace, coord_key) if coord_key is not None else memory_id
                returned[key] = (memory_id, stored)
            for row in chunk:
                key = (row["namespace"], row["coord_key"]) if row["coord_key"] is not None else row["id"]
                if key not in returned:
                    results.append(None)  # an expired memory holds the coordinate: the caller purges it
                    continue
                memory_id, stored = returned[key]
                results.append(_result(row, memory_id, stored))
    return results


def _result(row: dict[str, Any], memory_id: uuid.UUID, stored: list[Any]) -> UpsertResult:
    (inserted, created_at, payload, metadata, vector_model, vector_epoch, version, accessed, accesses) = stored
    values = {
        **row,
        "id": memory_id,
        "created_at": created_at,
        # As PostgreSQL stores them (jsonb orders keys), so the answer is a reload's.
        "payload": json.loads(payload),
        "metadata": json.loads(metadata),
        "vector_status": VectorStatus.PENDING,
        "vector_model": vector_model,
        "vector_error": "",
        "vector_epoch": vector_epoch,
        "bare_node": False,
        "version": version,
        # A replaced memory keeps its access counts (memories.access moves them).
        "last_accessed_at": accessed,
        "access_count": accesses,
    }
    # Every stored column but the generated search_document (left deferred on the instance), in
    # the model's order, which Model.from_db expects.
    memory = Memory.from_db(connection.alias, list(MEMORY_COLUMNS), [values[name] for name in MEMORY_COLUMNS])
    return UpsertResult(memory_id=memory_id, coord=row["coord_key"], created=bool(inserted), memory=memory)


def _coordinate_keys(rows: list[dict[str, Any]]) -> list[tuple[str, str]]:
    return [(row["namespace"], row["coord_key"]) for row in rows if row["coord_key"] is not None]
