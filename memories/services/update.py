"""A patch of a stored memory (the API's PATCH, the admin's change page)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.db import transaction
from django.utils import timezone

from core.errors import NotFound
from memories.errors import MemoryErrorCode
from memories.history import changed_fields, memory_snapshot
from memories.history_services import SYSTEM_ACTOR, memory_version_record
from memories.models import Memory, VectorStatus, VersionEvent
from memories.text import memory_text
from memories.validation import (
    resolve_expiry,
    validate_importance,
    validate_json_object,
    validate_memory_type,
    validate_pinned,
    validate_text,
)


class _Unset:
    def __repr__(self) -> str:
        return "UNSET"


# "Leave as it is", where None means something (expires_at=None: never expires).
UNSET: Any = _Unset()
# Fields that never reach the vector store's point: changing only these embeds nothing again.
_UNINDEXED_FIELDS = ("pinned", "expires_at")
# Never written by a save: the key, the generated tsvector, and the access counters, which
# memories.access moves concurrently with an UPDATE of their own.
_NOT_SAVED = frozenset({"id", "last_accessed_at", "access_count", "search_document"})


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
    """Change the fields given (None: leave it); a change of what the vector point holds makes
    the memory pending again, so post_save re-indexes it."""
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
            memory.pinned = validate_pinned(pinned)
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
            memory.payload = validate_json_object(payload, what="payload")
        if metadata is not None:
            memory.metadata = validate_json_object(metadata, what="metadata")
        if importance is not None:
            memory.importance = validate_importance(importance)
        if memory_type is not None:
            memory.memory_type = validate_memory_type(memory_type)
        if text is not None:
            memory.text = memory_text(payload=memory.payload, text=validate_text(text))
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
