"""Reads the console needs beyond memories.selectors: filter choices, the index panel, the dirty
queue, a memory's neighbourhood, and when a login lockout ends."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from axes.handlers.database import AxesDatabaseHandler
from axes.helpers import get_cool_off, get_failure_limit
from django.core.cache import cache
from django.db import connection
from django.db.models import Count, Q
from django.http import HttpRequest

from graph.admin import BARE_NODE_LABEL
from graph.selectors.neighbors import Neighbor, neighbors_find
from memories.models import Memory, MemoryType, VectorStatus

NEIGHBOURHOOD_HOPS = 2
NEIGHBOURHOOD_MAX = 50
# Filter choices change rarely; a minute of staleness saves a DISTINCT over every row per page load.
# Dirty memories re-embedded per click of the index panel's button: ~100 texts/s per core, so the
# request stays within a few seconds; `manage.py reindex --dirty` handles any number.
REINDEX_BATCH = 200
CHOICES_TTL_SECONDS = 60
MAX_CHOICES = 200
_CHOICES_CACHE_KEY = "console:choices:{field}"

# Loose index scans over the (tenant, namespace, ...) listing index: one index probe per distinct
# value instead of reading every row, so the cost follows the number of tenants, not of memories.
_DISTINCT_TENANTS_SQL = """
WITH RECURSIVE t AS (
    (SELECT tenant FROM memories_memory ORDER BY tenant LIMIT 1)
    UNION ALL
    SELECT (SELECT m.tenant FROM memories_memory m WHERE m.tenant > t.tenant ORDER BY m.tenant LIMIT 1)
    FROM t WHERE t.tenant IS NOT NULL
)
SELECT tenant FROM t WHERE tenant IS NOT NULL LIMIT %s
"""
_DISTINCT_NAMESPACES_SQL = """
WITH RECURSIVE t AS (
    (SELECT tenant, namespace FROM memories_memory ORDER BY tenant, namespace LIMIT 1)
    UNION ALL
    SELECT n.tenant, n.namespace FROM t, LATERAL (
        SELECT m.tenant, m.namespace FROM memories_memory m
        WHERE (m.tenant, m.namespace) > (t.tenant, t.namespace)
        ORDER BY m.tenant, m.namespace LIMIT 1
    ) n
)
SELECT DISTINCT namespace FROM (SELECT namespace FROM t LIMIT %s) s ORDER BY namespace
"""


def memory_filter_choices(*, field: str) -> list[str]:
    """Distinct tenants or namespaces for the changelist filters, cached briefly."""
    if field not in {"tenant", "namespace"}:
        raise ValueError(f"no choices for {field!r}")
    key = _CHOICES_CACHE_KEY.format(field=field)
    choices = cache.get(key)
    if choices is None:
        sql = _DISTINCT_TENANTS_SQL if field == "tenant" else _DISTINCT_NAMESPACES_SQL
        with connection.cursor() as cursor:
            cursor.execute(sql, [MAX_CHOICES])
            choices = [row[0] for row in cursor.fetchall()]
        cache.set(key, choices, CHOICES_TTL_SECONDS)
    return choices


@dataclass
class TenantCounts:
    tenant: str
    episodic: int
    semantic: int

    @property
    def total(self) -> int:
        return self.episodic + self.semantic


@dataclass
class ConsoleSummary:
    tenants: list[TenantCounts]
    pending: int
    failed: int

    @property
    def total(self) -> int:
        return sum(row.total for row in self.tenants)


SUMMARY_TTL_SECONDS = 30
_SUMMARY_CACHE_KEY = "console:tenant_counts"


def console_summary() -> ConsoleSummary:
    """Counts per tenant and type (a full scan: cached briefly) and the dirty vectors (always fresh)."""
    tenants = cache.get(_SUMMARY_CACHE_KEY)
    if tenants is None:
        tenants = _tenant_counts()
        cache.set(_SUMMARY_CACHE_KEY, tenants, SUMMARY_TTL_SECONDS)
    # The partial index memory_dirty holds only non-indexed rows: this stays cheap when all is well.
    dirty = Memory.objects.dirty().aggregate(
        pending=Count("id", filter=Q(vector_status=VectorStatus.PENDING)),
        failed=Count("id", filter=Q(vector_status=VectorStatus.FAILED)),
    )
    return ConsoleSummary(tenants=tenants, pending=int(dirty["pending"] or 0), failed=int(dirty["failed"] or 0))


def _tenant_counts() -> list[TenantCounts]:
    per_tenant = (
        Memory.objects.order_by()
        .values("tenant")
        .annotate(
            episodic=Count("id", filter=Q(memory_type=MemoryType.EPISODIC)),
            semantic=Count("id", filter=Q(memory_type=MemoryType.SEMANTIC)),
        )
        .order_by("tenant")
    )
    return [TenantCounts(row["tenant"], row["episodic"], row["semantic"]) for row in per_tenant]


def memory_dirty_ids(*, limit: int) -> list[uuid.UUID]:
    return list(Memory.objects.dirty().order_by().values_list("pk", flat=True)[:limit])


def memory_dirty_count() -> int:
    return Memory.objects.dirty().count()


@dataclass
class NeighbourRow:
    memory: Memory
    depth: int
    via: str


@dataclass
class Neighbourhood:
    rows: list[NeighbourRow] = field(default_factory=list)
    truncated: bool = False


def _node_label(node: Memory) -> str:
    return f"{node.coord_key} ({BARE_NODE_LABEL})" if node.bare_node else str(node)


def memory_neighbourhood(*, memory: Memory) -> Neighbourhood:
    """The change page's panel: what lies within two hops, nearest first, capped."""
    found: list[Neighbor] = neighbors_find(
        tenant=memory.tenant, start=memory, hops=NEIGHBOURHOOD_HOPS, limit=NEIGHBOURHOOD_MAX + 1, direction="both"
    )
    labels = {memory.pk: "this memory", **{n.id: _node_label(n.node) for n in found}}
    rows = [
        NeighbourRow(
            memory=n.node,
            depth=n.depth,
            via=f"{n.link_type} ({n.strength:g}) with {labels.get(n.via_id, str(n.via_id))}",
        )
        for n in found[:NEIGHBOURHOOD_MAX]
    ]
    return Neighbourhood(rows=rows, truncated=len(found) > NEIGHBOURHOOD_MAX)


def login_lockout_ends(*, request: HttpRequest, credentials: dict[str, Any] | None) -> datetime | None:
    """When the lockout that refused this login lifts, unless more failures come first (None: not locked).

    django-axes counts, per lockout parameter (the username, the address, ...), the failures of
    the attempt rows whose last failure is within the window; rows drop out oldest first. The
    lock of one parameter ends when the row that brings the newest rows' sum to the limit expires.
    """
    cool_off = get_cool_off(request)
    if cool_off is None:
        return None
    limit = get_failure_limit(request, credentials)
    ends: datetime | None = None
    for attempts in AxesDatabaseHandler().get_user_attempts(request, credentials):
        failures = 0
        newest_first = attempts.order_by("-attempt_time").values_list("attempt_time", "failures_since_start")
        for attempt_time, count in newest_first:
            failures += count
            if failures >= limit:
                if ends is None or attempt_time + cool_off > ends:
                    ends = attempt_time + cool_off
                break
    return ends
