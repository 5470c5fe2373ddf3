"""Links as rows: one memory's links (keyset-paginated), counts, and the admin's filter choices."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Literal

from django.db import connection
from django.db.models import Q

from core.errors import InvalidInput
from graph.errors import GraphErrorCode
from graph.models import Link
from graph.selectors.traversal import Direction
from memories.models import Memory
from memories.values import ascii_int


@dataclass
class LinkPage:
    links: list[Link]
    next_cursor: str | None


def links_list(
    *,
    tenant: str,
    memory: Memory,
    direction: Direction = "both",
    link_type: str | None = None,
    limit: int = 1000,
    cursor: str | None = None,
) -> LinkPage:
    """A memory's links, oldest first (by id), keyset-paginated; each with both ends' coordinates."""
    condition = _direction_q(memory.pk, direction)
    queryset = Link.objects.for_tenant(tenant).filter(condition)
    if link_type:
        queryset = queryset.filter(link_type=link_type)
    if cursor:
        queryset = queryset.filter(id__gt=_decode_link_cursor(cursor))
    links = list(queryset.select_related("source", "target").only(*_LINK_FIELDS).order_by("id")[: limit + 1])
    next_cursor = None
    if len(links) > limit:
        links = links[:limit]
        next_cursor = str(links[-1].pk)
    return LinkPage(links=links, next_cursor=next_cursor)


_LINK_FIELDS = (
    "id", "tenant", "link_type", "strength", "metadata", "created_at",
    "source__id", "source__coord_key", "source__namespace", "target__id", "target__coord_key", "target__namespace",
)  # fmt: skip


def _direction_q(memory_id: uuid.UUID, direction: Direction) -> Q:
    if direction == "out":
        return Q(source_id=memory_id)
    if direction == "in":
        return Q(target_id=memory_id)
    return Q(source_id=memory_id) | Q(target_id=memory_id)


def _decode_link_cursor(cursor: str) -> int:
    # ASCII digits only (str.isdigit() also takes "²" and "①", which int() refuses), and a bigint.
    link_id = ascii_int(cursor, max_digits=19)
    if link_id is None or link_id > _MAX_LINK_ID:
        raise InvalidInput("cursor is not one this API returned.", GraphErrorCode.INVALID_CURSOR)
    return link_id


_MAX_LINK_ID = 2**63 - 1


FILTER_CHOICES_CACHE_SECONDS = 60
FILTER_CHOICES_MAX_PAIRS = 500

# A loose index scan of link_tenant (tenant, link_type): one index probe per distinct pair, where
# SELECT DISTINCT would read every link.
_TENANT_TYPE_PAIRS_SQL = """
WITH RECURSIVE pairs(tenant, link_type, n) AS (
    (SELECT tenant, link_type, 1 FROM graph_link ORDER BY tenant, link_type LIMIT 1)
    UNION ALL
    SELECT next.tenant, next.link_type, pairs.n + 1
    FROM pairs, LATERAL (
        SELECT tenant, link_type FROM graph_link
        WHERE (tenant, link_type) > (pairs.tenant, pairs.link_type)
        ORDER BY tenant, link_type LIMIT 1
    ) AS next
    WHERE pairs.n < %s
)
SELECT tenant, link_type FROM pairs
"""


def link_filter_choices(*, field: Literal["tenant", "link_type"]) -> list[str]:
    """Distinct tenants or link types for the admin's filters (capped, cached for a minute)."""
    from django.core.cache import cache

    key = f"graph:filter-choices:{field}"
    choices = cache.get(key)
    if choices is None:
        with connection.cursor() as cursor:
            cursor.execute(_TENANT_TYPE_PAIRS_SQL, [FILTER_CHOICES_MAX_PAIRS])
            pairs = cursor.fetchall()
        index = 0 if field == "tenant" else 1
        choices = sorted({pair[index] for pair in pairs})
        cache.set(key, choices, FILTER_CHOICES_CACHE_SECONDS)
    return list(choices)
