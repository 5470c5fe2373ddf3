"""Storing memories from drafts: one (the API's create, the admin's add page) or a batch."""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from django.db import transaction
from django.utils import timezone

from core.errors import InvalidInput, Unprocessable
from memories.dedupe import DEFAULT_THRESHOLD, DedupeQuery, duplicates_claim, validate_dedupe
from memories.errors import MemoryErrorCode
from memories.history_services import SYSTEM_ACTOR
from memories.models import Memory, MemoryType, lock_key
from memories.services.upsert import UpsertResult, upsert_rows
from memories.signals import memories_upserted
from memories.text import memory_text
from memories.validation import (
    resolve_expiry,
    validate_coordinate,
    validate_importance,
    validate_json_object,
    validate_memory_type,
    validate_name,
    validate_pinned,
    validate_text,
)

MAX_BATCH = 1000


@dataclass
class MemoryDraft:
    """One memory to store, as the caller gave it (the API's body, a batch item, the admin's form)."""

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
class Stored:
    memory: Memory
    created: bool
    duplicate_of: uuid.UUID | None = None


def memory_row(*, tenant: str, draft: MemoryDraft, now: datetime) -> dict[str, Any]:
    """The draft validated (memories.validation) as the row the upsert stores (memories.columns)."""
    tenant = validate_name(tenant, what="tenant")
    namespace = validate_name(draft.namespace, what="namespace")
    payload = validate_json_object(draft.payload, what="payload")
    metadata = validate_json_object(draft.metadata or {}, what="metadata")
    memory_type = validate_memory_type(draft.memory_type)
    importance = validate_importance(draft.importance)
    validate_dedupe(draft.dedupe, draft.dedupe_threshold)
    coordinate = validate_coordinate(draft.coord)
    return {
        "id": draft.id or uuid.uuid4(),
        "tenant": tenant,
        "namespace": namespace,
        "coordinate": list(coordinate.values) if coordinate else None,
        "coord_key": coordinate.key if coordinate else None,
        "memory_type": memory_type,
        "payload": json.dumps(payload),
        "text": memory_text(payload=payload, text=validate_text(draft.text)),
        "metadata": json.dumps(metadata),
        "importance": importance,
        "created_at": now,
        "updated_at": now,
        "pinned": validate_pinned(draft.pinned),
        "expires_at": resolve_expiry(expires_at=draft.expires_at, ttl_seconds=draft.ttl_seconds, now=now),
    }


def _dedupe_query(row: dict[str, Any], draft: MemoryDraft) -> DedupeQuery:
    return DedupeQuery(
        namespace=row["namespace"], text=row["text"], mode=draft.dedupe, threshold=draft.dedupe_threshold
    )


def memory_create(*, tenant: str, draft: MemoryDraft, actor: str = SYSTEM_ACTOR) -> Stored:
    """Store one memory; a coordinate already used in the tenant+namespace is replaced. With
    `draft.dedupe`, a duplicate already stored is answered instead and nothing is written."""
    now = timezone.now()
    row = memory_row(tenant=tenant, draft=draft, now=now)
    with transaction.atomic():
        if draft.dedupe != "none":
            (duplicate,) = duplicates_claim(tenant=tenant, queries=[_dedupe_query(row, draft)])
            if duplicate is not None:
                return Stored(memory=Memory.objects.get(pk=duplicate), created=False, duplicate_of=duplicate)
        (result,) = upsert_rows([row], tenant=tenant, now=now, actor=actor)
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
            rows.append(memory_row(tenant=tenant, draft=draft, now=now))
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
        # The memories' one lock order (MemoryQuerySet.in_lock_order): two batches over the same
        # coordinates in different orders, or a batch and a link or a purge, would otherwise
        # deadlock (PostgreSQL aborts one of them).
        unique_rows.sort(key=lambda row: lock_key(row["namespace"], row["coord_key"]))
        stored = upsert_rows(unique_rows, tenant=tenant, now=now, actor=actor) if unique_rows else []
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
