"""Drift between PostgreSQL and the vector store (`vectors_check`): missing memories, orphan points."""

from __future__ import annotations

from dataclasses import dataclass, field

from memories.models import Memory, VectorStatus
from vectors.backend import vector_collection_name
from vectors.runtime import vector_store_ready
from vectors.stores.base import VectorStore


@dataclass
class TenantDrift:
    tenant: str
    memories: int = 0
    points: int = 0
    missing: list[str] = field(default_factory=list)  # in PostgreSQL, not in the store or not marked indexed
    orphans: list[str] = field(default_factory=list)  # in the store, not in PostgreSQL


def vectors_drift() -> list[TenantDrift]:
    """Compare PostgreSQL with the store, per tenant. Holds every id in memory (~150 MB per million)."""
    store = vector_store_ready()
    current = vector_collection_name()
    by_tenant: dict[str, TenantDrift] = {}
    known: dict[str, str] = {}
    rows = Memory.objects.order_by().values_list("id", "tenant", "vector_status", "vector_model")
    indexed: set[str] = set()
    for memory_id, tenant, status, model in rows.iterator(chunk_size=5000):
        key = str(memory_id)
        known[key] = tenant
        drift = by_tenant.setdefault(tenant, TenantDrift(tenant=tenant))
        drift.memories += 1
        if status == VectorStatus.INDEXED and model == current:
            indexed.add(key)
    in_store: set[str] = set()
    for point_id in store.iter_ids():
        in_store.add(point_id)
        owner = known.get(point_id)
        if owner is None:
            by_tenant.setdefault("", TenantDrift(tenant="")).orphans.append(point_id)
        else:
            by_tenant[owner].points += 1
    for key, owner in known.items():
        if key not in in_store or key not in indexed:
            by_tenant[owner].missing.append(key)
    if "" in by_tenant:
        _attribute_orphans(store, by_tenant)
    return sorted(by_tenant.values(), key=lambda drift: drift.tenant)


def _attribute_orphans(store: VectorStore, by_tenant: dict[str, TenantDrift]) -> None:
    """Orphans carry their tenant only in the store: ask per known tenant, the rest stay unnamed."""
    unnamed = by_tenant[""]
    orphans = set(unnamed.orphans)
    for tenant, drift in by_tenant.items():
        if tenant and orphans:
            mine = [point_id for point_id in store.iter_ids(tenant=tenant) if point_id in orphans]
            drift.orphans.extend(mine)
            drift.points += len(mine)
            orphans.difference_update(mine)
    unnamed.orphans = sorted(orphans)
    unnamed.points = len(orphans)
    if not orphans:
        del by_tenant[""]
