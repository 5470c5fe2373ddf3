"""Writes of aging: purging expired memories and forgetting by policy.

Both delete in chunks, each in its own transaction, through the ORM (so the links cascade and
the vectors go after each commit, as for any delete): a run over 100,000 memories never holds
one long transaction, and the API keeps serving meanwhile.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from memories.filters import FilterCondition
from memories.history_services import SYSTEM_ACTOR, memory_versions_record_removal
from memories.models import Memory
from memories.selectors import ForgetPolicy, memories_forget_candidates
from memories.signals import bulk_delete, memories_deleted

# How many ids a forget answer lists (the count covers them all).
FORGET_LISTED_IDS = 1000
DELETE_CHUNK = 500
Progress = Callable[[int, int], None]


@dataclass
class ForgetResult:
    dry_run: bool
    count: int
    ids: list[uuid.UUID] = field(default_factory=list)


def _delete_chunk(ids: Sequence[uuid.UUID], *, event: str, now: datetime, actor: str = SYSTEM_ACTOR) -> set[uuid.UUID]:
    """Delete these memories if they still qualify, each recorded in its history as `event`
    (before the rows go, in this transaction); returns the ids that went (not those another
    run, a delete or a change took first)."""
    with transaction.atomic():
        queryset = Memory.objects.filter(pk__in=list(ids))
        # A memory pinned, or given a later expiry, since the run chose it stays.
        queryset = queryset.filter(expires_at__lte=now) if event == "expired" else queryset.filter(pinned=False)
        rows = list(queryset.select_for_update().in_lock_order())
        memory_versions_record_removal(memories=rows, event=event, actor=actor)
        gone = [row.pk for row in rows]
        with bulk_delete():
            Memory.objects.filter(pk__in=gone).delete()
        memories_deleted.send(sender=Memory, ids=gone)
        return set(gone)


def _delete_in_chunks(
    ids: list[uuid.UUID],
    *,
    event: str,
    now: datetime,
    chunk: int,
    progress: Progress | None,
    actor: str = SYSTEM_ACTOR,
) -> list[uuid.UUID]:
    """The ids of `ids` this run deleted, in their order."""
    done: set[uuid.UUID] = set()
    for start in range(0, len(ids), chunk):
        done |= _delete_chunk(ids[start : start + chunk], event=event, now=now, actor=actor)
        if progress is not None:
            progress(min(start + chunk, len(ids)), len(ids))
    return [memory_id for memory_id in ids if memory_id in done]


def memories_expired_purge(
    *,
    now: datetime | None = None,
    dry_run: bool = False,
    tenant: str | None = None,
    chunk: int = DELETE_CHUNK,
    progress: Progress | None = None,
    actor: str = SYSTEM_ACTOR,
) -> ForgetResult:
    """Delete the memories expired at `now` (all tenants unless one is named); `dry_run` only
    counts them. Each purged memory gets an `expired` version in its history."""
    now = now or timezone.now()
    queryset = Memory.objects.expired(now)
    if tenant is not None:
        queryset = queryset.for_tenant(tenant)
    ids = list(queryset.order_by("expires_at", "id").values_list("pk", flat=True))
    if dry_run:
        return ForgetResult(dry_run=True, count=len(ids), ids=ids[:FORGET_LISTED_IDS])
    gone = _delete_in_chunks(ids, event="expired", now=now, chunk=chunk, progress=progress)
    return ForgetResult(dry_run=False, count=len(gone), ids=gone[:FORGET_LISTED_IDS])


def memories_expired_at_coordinates_purge(*, tenant: str, keys: Sequence[tuple[str, str]], now: datetime) -> int:
    """Storing at the coordinate of an expired memory stores a new memory, as if the expired one
    had been deleted: purge it first (inside the caller's transaction)."""
    if not keys:
        return 0
    where = Q()
    for namespace, coord_key in keys:
        where |= Q(namespace=namespace, coord_key=coord_key)
    expired = list(Memory.objects.for_tenant(tenant).expired(now).filter(where).values_list("pk", flat=True))
    return len(_delete_chunk(expired, event="expired", now=now)) if expired else 0


def _aware(value: datetime) -> datetime:
    return timezone.make_aware(value, UTC) if timezone.is_naive(value) else value


def memories_forget(
    *,
    tenant: str,
    policy: ForgetPolicy,
    namespace: str = "default",
    memory_type: str | None = None,
    conditions: Sequence[FilterCondition] = (),
    dry_run: bool = True,
    now: datetime | None = None,
    chunk: int = DELETE_CHUNK,
    progress: Progress | None = None,
    actor: str = SYSTEM_ACTOR,
) -> ForgetResult:
    """What `policy` forgets in the scope at `now`: listed when `dry_run` (the default), deleted
    otherwise. For the same `now` and an unchanged store the real run deletes exactly the dry
    run's memories. Pinned memories are never forgotten."""
    now = _aware(now) if now is not None else timezone.now()
    candidates = memories_forget_candidates(
        tenant=tenant, policy=policy, now=now, namespace=namespace, memory_type=memory_type, conditions=conditions
    )
    ids = list(candidates.values_list("pk", flat=True))
    if dry_run:
        return ForgetResult(dry_run=True, count=len(ids), ids=ids[:FORGET_LISTED_IDS])
    # What this run deleted: a concurrent run that took some first lists them, not this one.
    gone = _delete_in_chunks(ids, event="forgotten", now=now, chunk=chunk, progress=progress, actor=actor)
    return ForgetResult(dry_run=False, count=len(gone), ids=gone[:FORGET_LISTED_IDS])
