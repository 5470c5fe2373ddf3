"""History reads: a memory's versions, and the memories removed within retention."""

from __future__ import annotations

import base64
import binascii
import uuid
from dataclasses import dataclass

from django.db.models import Exists, OuterRef, QuerySet

from core.errors import InvalidInput, NotFound
from memories.errors import MemoryErrorCode
from memories.history_services import retention_cutoff
from memories.models import REMOVAL_EVENTS, Memory, MemoryVersion
from memories.selectors import memory_ref_lookup


@dataclass
class HistoryPage:
    memory_id: uuid.UUID
    items: list[MemoryVersion]
    next_cursor: str | None


def history_memory_id(*, tenant: str, ref: str, namespace: str | None = None) -> uuid.UUID:
    """The id whose history `ref` names: a live memory of the tenant (by id or coordinate), or
    by its id a memory removed less than SOMA_HISTORY_RETENTION_DAYS ago. Else 404."""
    lookup = memory_ref_lookup(ref=ref, namespace=namespace)
    live = Memory.objects.filter(tenant=tenant, **lookup).values_list("pk", flat=True).first()
    if live is not None:
        return live
    memory_id = lookup.get("pk")
    if isinstance(memory_id, uuid.UUID):
        last = MemoryVersion.objects.filter(tenant=tenant, memory_id=memory_id).order_by("-version").first()
        if last is not None and last.event in REMOVAL_EVENTS and last.at >= retention_cutoff():
            return memory_id
    raise NotFound(f"Memory {ref[:100]!r} not found.", MemoryErrorCode.MEMORY_NOT_FOUND)


def memory_history(
    *, tenant: str, ref: str, namespace: str | None = None, limit: int = 50, cursor: str | None = None
) -> HistoryPage:
    """Newest first; the cursor is the last version of the page (versions only ever grow)."""
    memory_id = history_memory_id(tenant=tenant, ref=ref, namespace=namespace)
    queryset = MemoryVersion.objects.filter(tenant=tenant, memory_id=memory_id)
    if cursor:
        queryset = queryset.filter(version__lt=_decode_cursor(cursor))
    items = list(queryset.order_by("-version")[: limit + 1])
    next_cursor = None
    if len(items) > limit:
        items = items[:limit]
        next_cursor = _encode_cursor(items[-1].version)
    return HistoryPage(memory_id=memory_id, items=items, next_cursor=next_cursor)


def _encode_cursor(version: int) -> str:
    return base64.urlsafe_b64encode(f"v{version}".encode()).decode().rstrip("=")


def _decode_cursor(cursor: str) -> int:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        if not raw.startswith("v") or not raw[1:].isdigit() or len(raw) > 12:
            raise ValueError(raw)
        return int(raw[1:])
    except (ValueError, UnicodeDecodeError, binascii.Error):
        raise InvalidInput("cursor is not one this API returned.", MemoryErrorCode.INVALID_CURSOR) from None


def memories_removed(*, tenant: str | None = None) -> QuerySet[MemoryVersion]:
    """The last version of each memory removed within retention and not restored since,
    newest first: the console's "recently deleted" list."""
    later = MemoryVersion.objects.filter(memory_id=OuterRef("memory_id"), version__gt=OuterRef("version"))
    live = Memory.objects.filter(pk=OuterRef("memory_id"))
    queryset = MemoryVersion.objects.filter(event__in=REMOVAL_EVENTS, at__gte=retention_cutoff())
    if tenant is not None:
        queryset = queryset.filter(tenant=tenant)
    return queryset.filter(~Exists(later), ~Exists(live)).order_by("-at", "-id")
