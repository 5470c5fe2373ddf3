"""Writes. Views, the admin and commands translate input and call these."""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from core.errors import InvalidInput, NotFound, Unprocessable
from core.jsonrules import json_depth
from memories.aging import memories_expired_at_coordinates_purge
from memories.coordinates import parse_coordinate
from memories.dedupe import DEFAULT_THRESHOLD, DedupeQuery, duplicates_claim, validate_dedupe
from memories.errors import MemoryErrorCode
from memories.history import changed_fields, changed_sql, memory_snapshot, snapshot_sql
from memories.history_services import (
    SYSTEM_ACTOR,
    history_enabled,
    memory_version_record,
    memory_versions_record_removal,
)
from memories.models import MAX_TTL_SECONDS, Memory, MemoryType, VectorStatus, VersionEvent
from memories.signals import memories_upserted
from memories.text import memory_text
from memories.values import unrepresentable_number

NAME_PATTERN = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")
MAX_BATCH = 1000
# Never written by a save: the key, the generated tsvector, and the access counters, which
# memories.access moves concurrently with an UPDATE of their own.
_NOT_SAVED = frozenset({"id", "last_accessed_at", "access_count", "search_document"})


@dataclass
class MemoryDraft:
    """One memory to store, as validated input (the API's body, a batch item, an import row)."""

    payload: dict[str, Any]
    coord: str | Sequence[float] | None = None
    memory_type: str = MemoryType.EPISODIC
    namespace: str = "default"
    text: str | None = None
    metadata: dict[str, Any] = field(default_factory=dict)
    importance: float = 0.0
    id: uuid.UUID | None = None
    dedupe: str = "none"
    dedupe_threshold: float = DEFAULT_THRESHOLD
    pinned: bool = False
    expires_at: datetime | None = None
    ttl_seconds: int | None = None


@dataclass
class UpsertResult:
    memory_id: uuid.UUID
    coord: str | None
    created: bool
    # The row as stored, built from the statement's RETURNING (no reload).
    memory: Memory | None = None
    # The memory this item duplicated (dedupe): nothing was written for it.
    duplicate_of: uuid.UUID | None = None


@dataclass
class Stored:
    memory: Memory
    created: bool
    duplicate_of: uuid.UUID | None = None


def validate_name(value: str, *, what: str) -> str:
    if not isinstance(value, str) or not NAME_PATTERN.match(value):
        raise InvalidInput(f"{what} must be 1-64 characters of [A-Za-z0-9_.-].", f"invalid_{what}")
    return value


def _validate_json_object(value: Any, *, what: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise InvalidInput(f"{what} must be a JSON object.", MemoryErrorCode.INVALID_PAYLOAD)
    if json_depth(value) > settings.SOMA_MAX_JSON_DEPTH:
        raise InvalidInput(
            f"{what} is nested deeper than {settings.SOMA_MAX_JSON_DEPTH} levels.", MemoryErrorCode.INVALID_PAYLOAD
        )
    # Refused up front rather than stored unsearchable: the vector engine holds numbers as
    # doubles, and a memory that was accepted must be findable.
    if (problem := unrepresentable_number(value)) is not None:
        raise InvalidInput(f"{what}: {problem}.", MemoryErrorCode.INVALID_PAYLOAD)
    return value


def resolve_expiry(*, expires_at: datetime | None, ttl_seconds: int | None, now: datetime) -> datetime | None:
    """The moment a memory expires: `expires_at`, or `now + ttl_seconds`; not both."""
    if expires_at is not None and ttl_seconds is not None:
        raise InvalidInput("Give expires_at or ttl_seconds, not both.", MemoryErrorCode.INVALID_EXPIRY)
    if ttl_seconds is not None:
        if isinstance(ttl_seconds, bool) or not isinstance(ttl_seconds, int) or not 1 <= ttl_seconds <= MAX_TTL_SECONDS:
            raise InvalidInput(
                f"ttl_seconds must be a whole number from 1 to {MAX_TTL_SECONDS}.", MemoryErrorCode.INVALID_EXPIRY
            )
        return now + timedelta(seconds=ttl_seconds)
    if expires_at is not None and timezone.is_naive(expires_at):
        return timezone.make_aware(expires_at, UTC)
    return expires_at


def _row(*, tenant: str, draft: MemoryDraft, now: Any) -> dict[str, Any]:
    validate_name(tenant, what="tenant")
    validate_name(draft.namespace, what="namespace")
    payload = _validate_json_object(draft.payload, what="payload")
    metadata = _validate_json_object(draft.metadata or {}, what="metadata")
    if draft.memory_type not in MemoryType.values:
        raise InvalidInput("memory_type must be 'episodic' or 'semantic'.", "invalid_memory_type")
    if not 0.0 <= draft.importance <= 1.0:
        raise InvalidInput("importance must be between 0 and 1.", "invalid_importance")
    validate_dedupe(draft.dedupe, draft.dedupe_threshold)
    # "" is a malformed coordinate (400), not "no coordinate": null or an absent field is that.
    coordinate = parse_coordinate(draft.coord) if draft.coord is not None else None
    return {
        "id": draft.id or uuid.uuid4(),
        "tenant": tenant,
        "namespace": draft.namespace,
        "coordinate": list(coordinate.values) if coordinate else None,
        "coord_key": coordinate.key if coordinate else None,
        "memory_type": draft.memory_type,
        "payload": json.dumps(payload),
        "text": memory_text(payload=payload, text=draft.text),
        "metadata": json.dumps(metadata),
        "importance": float(draft.importance),
        "created_at": now,
        "updated_at": now,
        "pinned": bool(draft.pinned),
        "expires_at": resolve_expiry(expires_at=draft.expires_at, ttl_seconds=draft.ttl_seconds, now=now),
    }


# One statement, race-free: a coordinate that exists (or is inserted concurrently) in the
# tenant+namespace is replaced in place (same id, same created_at); `xmax = 0` tells the rows
# this statement inserted from those it updated. A bare graph node at the coordinate (linked
# before any memory was stored there) is filled in place the same way, keeping its id and so its
# links; that counts as a creation: the row then takes this statement's time as created_at, the
# same as its updated_at, which a replaced memory (created by an earlier statement) never has.
# The version each row gets is recorded in the same statement (`recorded`), so history costs
# the write path no round trip. `previous` reads the replaced rows as they were (a row inserted
# concurrently is not in its snapshot: its version then lists every field as changed).
_INCOMING = """
WITH incoming (id, tenant, namespace, coordinate, coord_key, memory_type, payload, text, metadata,
               importance, created_at, updated_at, pinned, expires_at) AS (VALUES {values})"""
_UPSERT_SQL = """,
stored AS (
    INSERT INTO memories_memory
        (id, tenant, namespace, coordinate, coord_key, memory_type, payload, text, metadata,
         importance, created_at, updated_at, pinned, expires_at, vector_status, vector_model, vector_error, version)
    SELECT incoming.*, 'pending', '', '', 1 FROM incoming
    ON CONFLICT (tenant, namespace, coord_key) DO UPDATE SET
        coordinate = EXCLUDED.coordinate,
        memory_type = EXCLUDED.memory_type,
        payload = EXCLUDED.payload,
        text = EXCLUDED.text,
        metadata = EXCLUDED.metadata,
        importance = EXCLUDED.importance,
        updated_at = EXCLUDED.updated_at,
        pinned = EXCLUDED.pinned,
        expires_at = EXCLUDED.expires_at,
        vector_status = 'pending',
        vector_error = '',
        created_at = CASE WHEN memories_memory.bare_node THEN EXCLUDED.created_at ELSE memories_memory.created_at END,
        version = CASE WHEN memories_memory.bare_node THEN 1 ELSE memories_memory.version + 1 END,
        bare_node = false
    WHERE memories_memory.expires_at IS NULL OR memories_memory.expires_at > %s
    RETURNING memories_memory.*,
        (xmax = 0 OR memories_memory.created_at = memories_memory.updated_at) AS inserted
)"""
# A memory expired at that coordinate is not replaced (the WHERE): it returns no row, and the
# caller purges it and stores a new memory.
# Spliced in: the column lists of memories.history; the actor is a parameter.
_HISTORY_SQL = f""",
previous AS (
    SELECT m.* FROM memories_memory AS m
    JOIN incoming AS i ON m.tenant = i.tenant AND m.namespace = i.namespace AND m.coord_key = i.coord_key
    WHERE NOT m.bare_node
),
recorded AS (
    INSERT INTO memories_memoryversion (memory_id, tenant, version, event, actor, at, changed, snapshot, related)
    SELECT s.id, s.tenant, s.version, CASE WHEN s.inserted THEN 'created' ELSE 'updated' END, %s, s.updated_at,
           {changed_sql("p", "s")}, {snapshot_sql("s")}, '{{}}'::jsonb
    FROM stored AS s LEFT JOIN previous AS p ON p.id = s.id
)"""  # noqa: S608
_RETURN_SQL = """
SELECT id, namespace, coord_key, inserted, created_at, payload::text, metadata::text, vector_model, vector_epoch,
    version, last_accessed_at, access_count
FROM stored"""
_ROW_SQL = (
    "(%s::uuid, %s::varchar, %s::varchar, %s::double precision[], %s::varchar, %s::varchar, %s::jsonb, %s::text,"
    " %s::jsonb, %s::double precision, %s::timestamptz, %s::timestamptz, %s::boolean, %s::timestamptz)"
)
_UPSERT_CHUNK = 500


def _upsert_rows(rows: list[dict[str, Any]], *, tenant: str, now: datetime, actor: str) -> list[UpsertResult]:
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
    with connection.cursor() as cursor:
        for start in range(0, len(rows), _UPSERT_CHUNK):
            chunk = rows[start : start + _UPSERT_CHUNK]
            params: list[Any] = []
            for row in chunk:
                params.extend(
                    [
                        row["id"],
                        row["tenant"],
                        row["namespace"],
                        row["coordinate"],
                        row["coord_key"],
                        row["memory_type"],
                        row["payload"],
                        row["text"],
                        row["metadata"],
                        row["importance"],
                        row["created_at"],
                        row["updated_at"],
                        row["pinned"],
                        row["expires_at"],
                    ]
                )
            params.append(now)
            sql = _INCOMING.format(values=", ".join([_ROW_SQL] * len(chunk))) + _UPSERT_SQL
            if record:
                sql += _HISTORY_SQL
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
                (inserted, created_at, payload, metadata, vector_model, vector_epoch, version, accessed, accesses) = (
                    stored
                )
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
                memory = Memory.from_db(connection.alias, _MEMORY_COLUMNS, [values[name] for name in _MEMORY_COLUMNS])
                results.append(
                    UpsertResult(memory_id=memory_id, coord=row["coord_key"], created=bool(inserted), memory=memory)
                )
    return results


# Every stored column but the generated search_document (left deferred on the built instances),
# in the model's order, which Model.from_db expects.
_MEMORY_COLUMNS = [field.attname for field in Memory._meta.concrete_fields if field.name != "search_document"]


def _coordinate_keys(rows: list[dict[str, Any]]) -> list[tuple[str, str]]:
    return [(row["namespace"], row["coord_key"]) for row in rows if row["coord_key"] is not None]


def _dedupe_query(row: dict[str, Any], draft: MemoryDraft) -> DedupeQuery:
    return DedupeQuery(
        namespace=row["namespace"], text=row["text"], mode=draft.dedupe, threshold=draft.dedupe_threshold
    )


def memory_create(*, tenant: str, draft: MemoryDraft, actor: str = SYSTEM_ACTOR) -> Stored:
    """Store one memory; a coordinate already used in the tenant+namespace is replaced. With
    `draft.dedupe`, a duplicate already stored is answered instead and nothing is written."""
    now = timezone.now()
    row = _row(tenant=tenant, draft=draft, now=now)
    with transaction.atomic():
        if draft.dedupe != "none":
            (duplicate,) = duplicates_claim(tenant=tenant, queries=[_dedupe_query(row, draft)])
            if duplicate is not None:
                return Stored(memory=Memory.objects.get(pk=duplicate), created=False, duplicate_of=duplicate)
        (result,) = _upsert_rows([row], tenant=tenant, now=now, actor=actor)
        assert result.memory is not None
        # `memories`: the indexing after commit uses these rows instead of loading them again,
        # and records its outcome (vector_status) on them. Built from the upsert's RETURNING:
        # nothing to read back, so a DELETE racing this request cannot leave it empty-handed.
        memories_upserted.send(sender=Memory, ids=[result.memory_id], memories=[result.memory])
    return Stored(memory=result.memory, created=result.created)


def memory_upsert(*, tenant: str, draft: MemoryDraft, actor: str = SYSTEM_ACTOR) -> tuple[Memory, bool]:
    stored = memory_create(tenant=tenant, draft=draft, actor=actor)
    return stored.memory, stored.created


def memory_batch_upsert(*, tenant: str, drafts: Sequence[MemoryDraft], actor: str = SYSTEM_ACTOR) -> list[UpsertResult]:
    """All or nothing: every item is validated before anything is written. An item with
    `dedupe` that duplicates a stored memory, or an earlier item of the batch (same text),
    is answered with `duplicate_of` and not written."""
    if len(drafts) > MAX_BATCH:
        raise Unprocessable(f"A batch holds at most {MAX_BATCH} memories.", MemoryErrorCode.BATCH_ITEM_INVALID)
    now = timezone.now()
    rows = []
    for index, draft in enumerate(drafts):
        try:
            rows.append(_row(tenant=tenant, draft=draft, now=now))
        except InvalidInput as exc:
            raise Unprocessable(
                [{"index": index, "detail": exc.detail, "code": exc.code}], MemoryErrorCode.BATCH_ITEM_INVALID
            ) from exc
    with transaction.atomic():
        duplicates, earlier = _batch_duplicates(tenant, rows, drafts)
        kept = [row for index, row in enumerate(rows) if index not in duplicates and index not in earlier]
        # PostgreSQL refuses one statement touching a row twice: the last item for a coordinate
        # wins, as if the items had been stored one after another.
        last_for_key: dict[tuple[str, str], int] = {}
        for index, row in enumerate(kept):
            if row["coord_key"] is not None:
                last_for_key[(row["namespace"], row["coord_key"])] = index
        unique_rows = [
            row
            for index, row in enumerate(kept)
            if row["coord_key"] is None or last_for_key[(row["namespace"], row["coord_key"])] == index
        ]
        # One lock order for every batch: two batches over the same coordinates in different
        # orders would otherwise deadlock on the unique index (PostgreSQL aborts one of them).
        unique_rows.sort(key=lambda row: (row["namespace"], row["coord_key"] or ""))
        stored = _upsert_rows(unique_rows, tenant=tenant, now=now, actor=actor) if unique_rows else []
        if stored:
            memories = [result.memory for result in stored if result.memory is not None]
            memories_upserted.send(sender=Memory, ids=[result.memory_id for result in stored], memories=memories)
        found = _coords_of(tenant, set(duplicates.values()))
    by_key = {(row["namespace"], row["coord_key"]): result for row, result in zip(unique_rows, stored, strict=True)}
    by_id = {result.memory_id: result for result in stored}
    ordered: list[UpsertResult] = []
    for index, row in enumerate(rows):
        if index in duplicates:
            duplicate = duplicates[index]
            ordered.append(UpsertResult(duplicate, found.get(duplicate), created=False, duplicate_of=duplicate))
            continue
        if index in earlier:
            first = ordered[earlier[index]]
            ordered.append(UpsertResult(first.memory_id, first.coord, created=False, duplicate_of=first.memory_id))
            continue
        result = by_key.get((row["namespace"], row["coord_key"])) if row["coord_key"] else by_id[row["id"]]
        assert result is not None
        ordered.append(result)
    return ordered


def _batch_duplicates(
    tenant: str, rows: list[dict[str, Any]], drafts: Sequence[MemoryDraft]
) -> tuple[dict[int, uuid.UUID], dict[int, int]]:
    """Items that duplicate a stored memory (index -> its id) and items that repeat the text of
    an earlier item of the batch (index -> that item's index)."""
    asking = [index for index, draft in enumerate(drafts) if draft.dedupe != "none"]
    if not asking:
        return {}, {}
    answers = duplicates_claim(tenant=tenant, queries=[_dedupe_query(rows[i], drafts[i]) for i in asking])
    duplicates = {index: answer for index, answer in zip(asking, answers, strict=True) if answer is not None}
    first_of_text: dict[tuple[str, str], int] = {}
    earlier: dict[int, int] = {}
    for index, row in enumerate(rows):
        text_key = (row["namespace"], row["text"])
        if index in duplicates or not row["text"]:
            continue
        if text_key in first_of_text and drafts[index].dedupe != "none":
            earlier[index] = first_of_text[text_key]
        else:
            first_of_text.setdefault(text_key, index)
    return duplicates, earlier


def _coords_of(tenant: str, ids: set[uuid.UUID]) -> dict[uuid.UUID, str | None]:
    if not ids:
        return {}
    return dict(Memory.objects.filter(tenant=tenant, pk__in=ids).values_list("pk", "coord_key"))


class _Unset:
    def __repr__(self) -> str:
        return "UNSET"


# "Leave as it is", where None means something (expires_at=None: never expires).
UNSET: Any = _Unset()
# Fields that never reach the vector store's point: changing only these embeds nothing again.
_UNINDEXED_FIELDS = ("pinned", "expires_at")


def memory_update(
    *,
    memory: Memory,
    payload: dict[str, Any] | None = None,
    text: str | None = None,
    metadata: dict[str, Any] | None = None,
    importance: float | None = None,
    memory_type: str | None = None,
    pinned: bool | None = None,
    expires_at: datetime | None = UNSET,
    ttl_seconds: int | None = None,
    actor: str = SYSTEM_ACTOR,
) -> Memory:
    with transaction.atomic():
        try:
            memory = Memory.objects.select_for_update().get(pk=memory.pk)
        except Memory.DoesNotExist:
            # Deleted between the caller's read and this lock: the same 404 as if it came later.
            raise NotFound(f"Memory {str(memory.pk)!r} not found.", MemoryErrorCode.MEMORY_NOT_FOUND) from None
        before = memory_snapshot(memory)
        previous_payload = memory.payload
        aging_only = all(value is None for value in (payload, text, metadata, importance, memory_type))
        if pinned is not None:
            memory.pinned = bool(pinned)
        if expires_at is not UNSET or ttl_seconds is not None:
            memory.expires_at = resolve_expiry(
                expires_at=None if expires_at is UNSET else expires_at, ttl_seconds=ttl_seconds, now=timezone.now()
            )
        if aging_only:
            # Nothing the point holds changed: no re-embedding, the vector state stays.
            memory.version += 1
            memory.save(update_fields=[*_UNINDEXED_FIELDS, "updated_at", "version"])
            _record_update(memory, before=before, actor=actor)
            return memory
        if payload is not None:
            memory.payload = _validate_json_object(payload, what="payload")
        if metadata is not None:
            memory.metadata = _validate_json_object(metadata, what="metadata")
        if importance is not None:
            if not 0.0 <= importance <= 1.0:
                raise InvalidInput("importance must be between 0 and 1.", "invalid_importance")
            memory.importance = importance
        if memory_type is not None:
            if memory_type not in MemoryType.values:
                raise InvalidInput("memory_type must be 'episodic' or 'semantic'.", "invalid_memory_type")
            memory.memory_type = memory_type
        if text is not None:
            memory.text = memory_text(payload=memory.payload, text=text)
        elif payload is not None and memory.text == memory_text(payload=previous_payload, text=None):
            # The text was derived from the payload, so it follows the payload; an explicit
            # text given at creation stays.
            memory.text = memory_text(payload=memory.payload, text=None)
        memory.vector_status = VectorStatus.PENDING
        memory.vector_error = ""
        memory.version += 1
        # Every field the point's filter payload copies changes the point; post_save re-indexes
        # (auto_now set updated_at on this instance: nothing to read back after the commit,
        # when a racing DELETE may already have removed the row).
        memory.save(update_fields=[f.name for f in Memory._meta.concrete_fields if f.name not in _NOT_SAVED])
        _record_update(memory, before=before, actor=actor)
    return memory


def _record_update(memory: Memory, *, before: dict[str, Any], actor: str) -> None:
    changed = changed_fields(before, memory_snapshot(memory))
    memory_version_record(memory=memory, event=VersionEvent.UPDATED, actor=actor, changed=changed)


def memory_delete(*, memory: Memory, actor: str = SYSTEM_ACTOR, event: str = VersionEvent.DELETED) -> bool:
    """Delete `memory` and its links (post_delete removes the vector after commit), recorded in
    its history as `event` (deleted, expired or forgotten).

    False when it is gone already. Concurrent deletes of one memory queue on its row lock: the
    first deletes it, the others then find no row, so exactly one caller is told it deleted it.
    """
    with transaction.atomic():
        locked = Memory.objects.select_for_update().filter(pk=memory.pk).first()
        if locked is None:
            return False
        memory_versions_record_removal(memories=[locked], event=event, actor=actor)
        locked.delete()
    return True


def memory_mark_vector_state(*, ids: Sequence[uuid.UUID], status: str, model: str = "", error: str = "") -> int:
    return Memory.objects.filter(pk__in=ids).update(vector_status=status, vector_model=model, vector_error=error[:500])
