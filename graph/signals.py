"""A memory's links outlive its removal in its history, and come back with its restore.

Receivers of the memories app's `memories_removing` / `memory_restored` / `bare_node_claimed`
(memories.signals):
memories imports no graph code, so the graph keeps its own part of a version this way.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

from django.db.models import Q
from django.dispatch import receiver

from graph.models import Link
from memories.models import Memory
from memories.signals import bare_node_claimed, memories_removing, memory_restored

_LINK_FIELDS = ("source_id", "target_id", "link_type", "strength", "metadata", "created_at")


@receiver(memories_removing, dispatch_uid="graph_keep_links")
def keep_links(sender: Any, memories: Sequence[Memory] = (), **kwargs: Any) -> dict[uuid.UUID, dict[str, Any]]:
    ids = [memory.pk for memory in memories]
    kept: dict[uuid.UUID, dict[str, Any]] = {}
    rows = Link.objects.filter(Q(source_id__in=ids) | Q(target_id__in=ids)).order_by("id").values_list(*_LINK_FIELDS)
    wanted = set(ids)
    for source, target, link_type, strength, metadata, created_at in rows:
        record = {
            "source": str(source),
            "target": str(target),
            "link_type": link_type,
            "strength": strength,
            "metadata": metadata,
            "created_at": created_at.isoformat(),
        }
        for end in {source, target} & wanted:
            kept.setdefault(end, {"links": []})["links"].append(record)
    return kept


@receiver(memory_restored, dispatch_uid="graph_restore_links")
def restore_links(sender: Any, memory: Memory, related: dict[str, Any] | None = None, **kwargs: Any) -> None:
    """Links whose other end still exists (in the tenant) come back; the others stay gone."""
    records = (related or {}).get("links") or []
    if not records:
        return
    others = {uuid.UUID(r["target"] if r["source"] == str(memory.pk) else r["source"]) for r in records}
    # A bare coordinate node is an end that still exists, as a memory is.
    present = set(Memory.with_nodes.filter(tenant=memory.tenant, pk__in=others).values_list("pk", flat=True))
    links = []
    for record in records:
        source, target = uuid.UUID(record["source"]), uuid.UUID(record["target"])
        if (source if target == memory.pk else target) not in present:
            continue
        links.append(
            Link(
                tenant=memory.tenant,
                source_id=source,
                target_id=target,
                link_type=record["link_type"],
                strength=record["strength"],
                metadata=record["metadata"],
            )
        )
    Link.objects.bulk_create(links, ignore_conflicts=True)


@receiver(bare_node_claimed, dispatch_uid="graph_bare_node_claimed")
def move_node_links(sender: Any, node_id: uuid.UUID, memory_id: uuid.UUID, **kwargs: Any) -> None:
    """The bare node's links now join the memory that took its coordinate (same types, strengths)."""
    Link.objects.filter(source_id=node_id).update(source_id=memory_id)
    Link.objects.filter(target_id=node_id).update(target_id=memory_id)
