"""History writes: record a version, restore a memory from one, prune what is past retention.

A version is one INSERT in the transaction of the change it records (the bulk upsert folds it
into its own statement, memories.services.upsert). Its number is the memory's `version` after the
change; a removal (deleted, expired, forgotten) is the next number after the last one.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from core.errors import Conflict, NotFound
from memories.errors import MemoryErrorCode
from memories.history import TRACKED_FIELDS, changed_fields, memory_snapshot
from memories.models import REMOVAL_EVENTS, IdempotencyKey, Memory, MemoryVersion, VectorStatus, VersionEvent
from memories.signals import bare_node_claimed, memories_removing, memory_restored

SYSTEM_ACTOR = "system"
MASTER_ACTOR = "master"
IDEMPOTENCY_TTL = timedelta(hours=24)
PRUNE_BATCH = 5000


def history_enabled() -> bool:
    return bool(settings.SOMA_HISTORY)


def retention_cutoff() -> datetime:
    """Versions, and removed memories, older than this are past retention."""
    return timezone.now() - timedelta(days=settings.SOMA_HISTORY_RETENTION_DAYS)


def memory_version_record(
    *, memory: Memory, event: str, actor: str, changed: Sequence[str] | None = None
) -> MemoryVersion | None:
    """Record `memory` as it is now as one version, in the caller's transaction.

    For "created", "updated" and "restored" the caller has saved the memory with its new
    `version`; `changed` defaults to every tracked field. For a removal ("deleted", "expired",
    "forgotten") call this before the row goes (or use `memory_versions_record_removal` for
    many): the version is the next number, and what other apps keep (the links) is kept with it.
    None when SOMA_HISTORY is off.
    """
    if event in REMOVAL_EVENTS:
        recorded = memory_versions_record_removal(memories=[memory], event=event, actor=actor)
        return recorded[0] if recorded else None
    if not history_enabled():
        return None
    return MemoryVersion.objects.create(
        memory_id=memory.pk,
        tenant=memory.tenant,
        version=memory.version,
        event=event,
        actor=actor,
        at=memory.updated_at,
        changed=list(TRACKED_FIELDS if changed is None else changed),
        snapshot=memory_snapshot(memory),
    )


def memory_versions_record_removal(*, memories: Sequence[Memory], event: str, actor: str) -> list[MemoryVersion]:
    """One removal version per memory (one INSERT), before the rows are deleted by the caller.
    Each memory's `version` is moved to the removal's number."""
    if event not in REMOVAL_EVENTS:
        raise ValueError(f"{event!r} is not a removal event")
    if not history_enabled() or not memories:
        return []
    related: dict[uuid.UUID, dict[str, Any]] = {}
    for _receiver, response in memories_removing.send(sender=Memory, memories=list(memories)):
        if isinstance(response, dict):
            for memory_id, extra in response.items():
                related.setdefault(memory_id, {}).update(extra)
    now = timezone.now()
    versions = []
    for memory in memories:
        memory.version += 1
        versions.append(
            MemoryVersion(
                memory_id=memory.pk,
                tenant=memory.tenant,
                version=memory.version,
                event=event,
                actor=actor,
                at=now,
                changed=list(TRACKED_FIELDS),
                snapshot=memory_snapshot(memory),
                related=related.get(memory.pk, {}),
            )
        )
    return MemoryVersion.objects.bulk_create(versions)


# --- restore -------------------------------------------------------------------------------


@dataclass
class Restored:
    memory: Memory
    restored_version: int


def memory_restore(*, tenant: str, memory_id: uuid.UUID, version: int | None = None, actor: str) -> Restored:
    """Bring a removed memory back (same id, coordinate and content of `version`, by default
    the last one before the removal), or a live memory back to `version` (by default its
    previous one). Either way a new "restored" version; the memory is embedded again after
    commit. 404 when the memory is unknown or removed past retention, or the version is gone;
    409 `coordinate_taken` when another memory holds its coordinate now. Nothing changes then.
    """
    with transaction.atomic():
        # Two restores of one memory run one after the other, so neither sees a half-done one.
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(hashtextextended(%s, 17))", [str(memory_id)])
        live = Memory.objects.select_for_update().filter(tenant=tenant, pk=memory_id).first()
        if live is not None:
            return _restore_live(live, version=version, actor=actor)
        return _restore_removed(tenant=tenant, memory_id=memory_id, version=version, actor=actor)


def _version_of(*, tenant: str, memory_id: uuid.UUID, version: int) -> MemoryVersion:
    found = MemoryVersion.objects.filter(tenant=tenant, memory_id=memory_id, version=version).first()
    if found is None:
        raise NotFound(f"Version {version} of memory {memory_id} is not kept.", MemoryErrorCode.VERSION_NOT_FOUND)
    return found


def _apply(memory: Memory, snapshot: dict[str, Any]) -> None:
    memory.memory_type = snapshot["memory_type"]
    memory.payload = snapshot["payload"]
    memory.text = snapshot["text"]
    memory.metadata = snapshot["metadata"]
    memory.importance = snapshot["importance"]
    memory.vector_status = VectorStatus.PENDING
    memory.vector_error = ""


def _restore_live(memory: Memory, *, version: int | None, actor: str) -> Restored:
    wanted = memory.version - 1 if version is None else version
    source = _version_of(tenant=memory.tenant, memory_id=memory.pk, version=wanted)
    before = memory_snapshot(memory)
    _apply(memory, source.snapshot)
    memory.version += 1
    memory.save()  # post_save embeds the restored text after commit
    memory_version_record(
        memory=memory,
        event=VersionEvent.RESTORED,
        actor=actor,
        changed=changed_fields(before, memory_snapshot(memory)),
    )
    return Restored(memory=memory, restored_version=source.version)


def _restore_removed(*, tenant: str, memory_id: uuid.UUID, version: int | None, actor: str) -> Restored:
    removal = MemoryVersion.objects.filter(tenant=tenant, memory_id=memory_id).order_by("-version").first()
    if removal is None or removal.event not in REMOVAL_EVENTS or removal.at < retention_cutoff():
        raise NotFound(f"Memory {memory_id} not found.", MemoryErrorCode.MEMORY_NOT_FOUND)
    if version is None:
        # The last version before the removal; the removal's own snapshot (the same memory) if
        # that one was pruned or never recorded.
        source = (
            MemoryVersion.objects.filter(tenant=tenant, memory_id=memory_id, version__lt=removal.version)
            .exclude(event__in=REMOVAL_EVENTS)
            .order_by("-version")
            .first()
        ) or removal
    else:
        source = _version_of(tenant=tenant, memory_id=memory_id, version=version)
    snapshot = source.snapshot
    coord_key = snapshot.get("coord")
    if coord_key is not None:
        holder = (
            Memory.with_nodes.select_for_update()
            .filter(tenant=tenant, namespace=snapshot["namespace"], coord_key=coord_key)
            .first()
        )
        if holder is not None and not holder.bare_node:
            raise _coordinate_taken(coord_key, holder.pk)
        if holder is not None:
            # Links were made at the coordinate while no memory was there: the memory takes the
            # node's place, as a memory stored there would, and the node's links with it.
            bare_node_claimed.send(sender=Memory, node_id=holder.pk, memory_id=memory_id)
            with connection.cursor() as cursor:  # a bare node has no history, vector or links left
                cursor.execute("DELETE FROM memories_memory WHERE id = %s AND bare_node", [holder.pk])
    memory = Memory(
        id=memory_id,
        tenant=tenant,
        namespace=snapshot["namespace"],
        coordinate=snapshot.get("coordinate"),
        coord_key=coord_key,
        created_at=datetime.fromisoformat(snapshot["created_at"]),
        version=removal.version + 1,
    )
    _apply(memory, snapshot)
    try:
        with transaction.atomic():
            memory.save(force_insert=True)  # post_save embeds it after commit
    except IntegrityError:
        # Taken meanwhile by a concurrent write (the check above ran before it committed).
        raise _coordinate_taken(coord_key, None) from None
    memory_version_record(memory=memory, event=VersionEvent.RESTORED, actor=actor)
    memory_restored.send(sender=Memory, memory=memory, related=removal.related or {})
    return Restored(memory=memory, restored_version=source.version)


def _coordinate_taken(coord_key: str | None, holder: uuid.UUID | None) -> Conflict:
    by = f" by memory {holder}" if holder else ""
    return Conflict(
        f"Coordinate {coord_key} is held{by} now; delete or move it before restoring this memory.",
        MemoryErrorCode.COORDINATE_TAKEN,
    )


# --- retention -----------------------------------------------------------------------------


@dataclass
class PruneSummary:
    versions: int = 0
    # Removed memories whose last trace went with these versions: no longer restorable.
    tombstones: int = 0
    idempotency_keys: int = 0


_REMOVALS = ", ".join(f"'{event}'" for event in REMOVAL_EVENTS)
# Past retention, except the version a live memory is at now (its history keeps its present).
_PRUNABLE = """
FROM memories_memoryversion v
WHERE v.at < %s
  AND NOT EXISTS (SELECT 1 FROM memories_memory m WHERE m.id = v.memory_id AND m.version = v.version)
"""
# Only constants of this module are spliced in; the cutoff and the batch size are parameters.
_TOMBSTONE = f"v.event IN ({_REMOVALS}) AND NOT EXISTS (SELECT 1 FROM memories_memory m WHERE m.id = v.memory_id)"  # noqa: S608
_COUNT_SQL = f"SELECT count(*), count(*) FILTER (WHERE {_TOMBSTONE}) {_PRUNABLE}"
_DELETE_SQL = f"""
DELETE FROM memories_memoryversion AS gone USING (SELECT v.id, ({_TOMBSTONE}) AS tombstone {_PRUNABLE} LIMIT %s) AS v
WHERE gone.id = v.id
RETURNING v.tombstone
"""  # noqa: S608


def history_prune(
    *, dry_run: bool = False, batch_size: int = PRUNE_BATCH, progress: Callable[[int], None] | None = None
) -> PruneSummary:
    """Drop versions and tombstones past SOMA_HISTORY_RETENTION_DAYS, and idempotency keys past
    24 h, in batches of `batch_size` (each its own transaction); `progress(n)` after each."""
    cutoff = retention_cutoff()
    summary = PruneSummary()
    keys = IdempotencyKey.objects.filter(created_at__lt=timezone.now() - IDEMPOTENCY_TTL)
    with connection.cursor() as cursor:
        if dry_run:
            cursor.execute(_COUNT_SQL, [cutoff])
            summary.versions, summary.tombstones = cursor.fetchone()
            summary.idempotency_keys = keys.count()
            return summary
        while True:
            with transaction.atomic():
                cursor.execute(_DELETE_SQL, [cutoff, batch_size])
                rows = cursor.fetchall()
            summary.versions += len(rows)
            summary.tombstones += sum(1 for (tombstone,) in rows if tombstone)
            if progress is not None and rows:
                progress(len(rows))
            if len(rows) < batch_size:
                break
    summary.idempotency_keys, _ = keys.delete()
    return summary
