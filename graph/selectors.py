"""Graph reads (PostgreSQL only), each scoped to a tenant.

Traversals are breadth-first, one level at a time: each level is one query that reads the links
of the whole frontier from the covering indexes `link_out` / `link_in` (index-only scans), and
Python keeps the visited set, so every memory is reached once, at its smallest depth. Work stops
at the depth cap, when a frontier empties, once enough neighbours are found (a neighbour level
is ranked and cut in the database, so it never returns more rows than the answer still needs),
or when the two searches of a path meet. bench/README-graph.md has the measurements that chose
this over a recursive CTE.

No traversal query filters on the tenant: a link joins two memories of its own tenant (the
`link_same_tenant` trigger), so a walk that starts from a memory of tenant T stays in T. The
memories are then loaded with a tenant filter all the same.

A node of the graph is a memory or a bare coordinate: a `Memory` row with `bare_node` set,
made when a coordinate where nothing is stored is linked (the earlier service's clients link
co-recalled coordinates first). Walks pass through both kinds alike; answers show `memory: None`
for a bare node, and search's expansion (`neighbors_for_many`) returns memories only.
"""

from __future__ import annotations

import uuid
from collections.abc import Container, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from django.db import connection
from django.db.models import Q
from django.utils import timezone

from core.errors import InvalidInput, NotFound, Unprocessable
from graph.errors import GraphErrorCode
from graph.models import Link
from memories.coordinates import parse_coordinate
from memories.models import Memory
from memories.selectors import memory_ref_lookup
from memories.values import ascii_int

Direction = Literal["out", "in", "both"]
MAX_HOPS = 6
MAX_PATH_LENGTH = 12
MAX_NEIGHBORS = 1000
MAX_EXPAND_HOPS = 2

# What a traversal needs to know about its end points (never the payload).
REF_FIELDS = ("id", "tenant", "namespace", "coord_key", "coordinate", "bare_node")


# --- references -----------------------------------------------------------------------------


@dataclass(frozen=True)
class MemoryRef:
    """A node named by id (ours), or by coordinate within a namespace (the client's)."""

    id: uuid.UUID | None = None
    coord_key: str | None = None
    namespace: str = "default"

    @classmethod
    def of(
        cls, *, id: uuid.UUID | None, coord: str | Sequence[float] | None, namespace: str = "default", side: str
    ) -> MemoryRef:
        """From an `<side>_id` / `<side>_coord` pair where exactly one is given; a bad coordinate is a 400."""
        has_coord = coord is not None  # "" is a malformed coordinate (400), as on /memories
        if id is None and not has_coord:
            raise Unprocessable(f"Give {side}_coord or {side}_id.", GraphErrorCode.MISSING_REFERENCE)
        if id is not None and has_coord:
            raise Unprocessable(f"Give {side}_coord or {side}_id, not both.", GraphErrorCode.AMBIGUOUS_REFERENCE)
        if id is not None:
            return cls(id=id)
        assert coord is not None
        return cls(coord_key=parse_coordinate(coord).key, namespace=namespace)

    @classmethod
    def parse(cls, ref: str, *, namespace: str | None = None) -> MemoryRef:
        """A path-style reference: a UUID, or a coordinate string (400 when it is neither)."""
        lookup = memory_ref_lookup(ref=ref, namespace=namespace)
        if "pk" in lookup:
            return cls(id=lookup["pk"])  # type: ignore[arg-type]
        return cls(coord_key=lookup["coord_key"], namespace=lookup["namespace"])  # type: ignore[arg-type]

    @property
    def label(self) -> str:
        return str(self.id) if self.id is not None else f"{self.coord_key!r} in namespace {self.namespace!r}"

    def q(self) -> Q:
        if self.id is not None:
            return Q(pk=self.id)
        return Q(namespace=self.namespace, coord_key=self.coord_key)

    def matches(self, memory: Memory) -> bool:
        if self.id is not None:
            return memory.pk == self.id
        return memory.namespace == self.namespace and memory.coord_key == self.coord_key


def nodes_resolve(*, tenant: str, refs: Sequence[MemoryRef]) -> list[Memory | None]:
    """The nodes named by `refs` (memories or bare coordinates), in order, in one query.

    None for a coordinate that is no node: coordinates are the client's, and one nobody stored
    or linked is simply an empty node. An id names a node we made, so an unknown one is a 404
    `memory_not_found`; another tenant's is unknown too (tenants never see each other's).
    """
    condition = Q()
    for ref in refs:
        condition |= ref.q()
    found = list(Memory.with_nodes.filter(condition, tenant=tenant).only(*REF_FIELDS, "expires_at"))
    now = timezone.now()
    resolved: list[Memory | None] = []
    for ref in refs:
        node = next((m for m in found if ref.matches(m)), None)
        # An expired memory named by its id is gone, as if deleted. Its coordinate stays a node
        # until the purge (the row holds the coordinate's unique key meanwhile).
        expired = node is not None and node.expires_at is not None and node.expires_at <= now
        if (node is None or expired) and ref.id is not None:
            raise NotFound(f"Memory {ref.label} not found.", GraphErrorCode.MEMORY_NOT_FOUND)
        resolved.append(node)
    return resolved


def memory_label(memory: Memory) -> str:
    """How a path names a node: its coordinate when it has one (old clients), else its id."""
    return memory.coord_key or str(memory.pk)


# --- links of one memory ----------------------------------------------------------------------


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


# --- one traversal level ----------------------------------------------------------------------
#
# Ids travel as text: building 70,000 uuid.UUID objects costs more than the index scan that
# found them (2.5x the transfer time, measured), and text compares like the UUIDs themselves.

# A step: (memory on the frontier, memory it reaches, link_type, strength)
Step = tuple[str, str, str, float]

_STEPS_OUT = "SELECT source_id AS via, target_id AS reached, link_type, strength FROM graph_link WHERE source_id = ANY({frontier}::uuid[])"
_STEPS_IN = "SELECT target_id AS via, source_id AS reached, link_type, strength FROM graph_link WHERE target_id = ANY({frontier}::uuid[])"


def _steps_sql(direction: Direction, link_type: str | None, frontier: str = "%(frontier)s") -> str:
    """Every link leaving the frontier in `direction`, index-only on link_out / link_in."""
    parts = []
    for sql, wanted in ((_STEPS_OUT, ("out", "both")), (_STEPS_IN, ("in", "both"))):
        if direction in wanted:
            parts.append(sql.format(frontier=frontier) + (" AND link_type = %(link_type)s" if link_type else ""))
    return " UNION ALL ".join(parts)


def _fetch(sql: str, params: dict[str, Any]) -> list[Any]:
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchall()


def _links_from(
    frontier: Sequence[str], *, direction: Direction, link_type: str | None, into: Sequence[str] | None = None
) -> list[Step]:
    """The steps out of `frontier` (only those that land in `into`, when given): one query."""
    # Composed only of this module's constants; every value is a bound parameter.
    sql = f"SELECT via::text, reached::text, link_type, strength FROM ({_steps_sql(direction, link_type)}) AS steps"  # noqa: S608
    if into is not None:
        sql += " WHERE reached = ANY(%(into)s::uuid[])"
    return _fetch(sql, {"frontier": list(frontier), "link_type": link_type, "into": list(into or ())})


# The next level of a neighbour search, ranked and cut in the database: of the memories the
# frontier reaches that are not yet visited, the `limit` best (strongest link first, then by id),
# each with its preferred step (strongest, then by link type, then by the memory it comes from).
# So a level never sends more rows than the answer still needs, however many links a hub has.
_NEIGHBOR_LEVEL_SQL = """
WITH steps AS MATERIALIZED ({steps}),
best AS (
    SELECT reached, max(strength) AS strength FROM steps
    WHERE reached <> ALL(%(visited)s::uuid[])
    GROUP BY reached
    ORDER BY max(strength) DESC, reached
    LIMIT %(limit)s
)
SELECT DISTINCT ON (best.strength, best.reached)
    steps.via::text, steps.reached::text, steps.link_type, steps.strength
FROM best JOIN steps ON steps.reached = best.reached AND steps.strength = best.strength
ORDER BY best.strength DESC, best.reached, steps.link_type COLLATE "C", steps.via
"""


def _reverse(direction: Direction) -> Direction:
    return {"out": "in", "in": "out", "both": "both"}[direction]  # type: ignore[return-value]


def _preference(step: Step) -> tuple[float, str, str]:
    """Which link brought a memory when several did: the strongest, then by type, then by origin."""
    return (-step[3], step[2], step[0])


def _rank(step: Step) -> tuple[float, str]:
    """Order within one depth: strongest link first, then by memory id."""
    return (-step[3], step[1])


def _best_steps(steps: Iterable[Step], visited: Container[str]) -> dict[str, Step]:
    """The preferred step to each memory not yet visited."""
    best: dict[str, Step] = {}
    for step in steps:
        reached = step[1]
        if reached in visited:
            continue
        current = best.get(reached)
        if current is None or _preference(step) < _preference(current):
            best[reached] = step
    return best


# --- neighbours -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Neighbor:
    """A node reached from `origin_id` at `depth` hops; `via_id` -[link_type, strength]- it."""

    node: Memory
    depth: int
    link_type: str
    strength: float
    via_id: uuid.UUID
    origin_id: uuid.UUID

    @property
    def id(self) -> uuid.UUID:
        return self.node.pk

    @property
    def memory(self) -> Memory | None:
        """The memory stored at the node; None for a bare coordinate."""
        return None if self.node.bare_node else self.node


def neighbors_find(
    *,
    tenant: str,
    start: Memory,
    hops: int = 1,
    limit: int = 10,
    offset: int = 0,
    direction: Direction = "out",
    link_type: str | None = None,
) -> list[Neighbor]:
    """Nodes within `hops` links of `start`, nearest first, each once at its smallest depth.

    Within a depth: strongest link first, then by id. Queries: one per level walked (fewer when
    the frontier empties or `offset + limit` memories are found sooner) plus one to load them.
    """
    wanted = offset + limit
    start_id = str(start.pk)
    visited: dict[str, tuple[int, Step]] = {}
    frontier = [start_id]
    for depth in range(1, hops + 1):
        level: list[Step] = _fetch(
            _NEIGHBOR_LEVEL_SQL.format(steps=_steps_sql(direction, link_type)),
            {
                "frontier": frontier,
                "link_type": link_type,
                "visited": [start_id, *visited],
                "limit": wanted - len(visited),
            },
        )
        for step in level:
            visited[step[1]] = (depth, step)
        # Every memory still unseen lies deeper than all those found: enough is enough.
        if not level or len(visited) >= wanted:
            break
        frontier = [step[1] for step in level]
    ranked = sorted(visited.items(), key=lambda item: (item[1][0], _rank(item[1][1])))
    chosen = ranked[offset:wanted]
    memories = _load_memories(tenant, [memory_id for memory_id, _ in chosen], with_nodes=True)
    return [
        Neighbor(
            node=memories[memory_id],
            depth=depth,
            link_type=step[2],
            strength=step[3],
            via_id=uuid.UUID(step[0]),
            origin_id=start.pk,
        )
        for memory_id, (depth, step) in chosen
        if memory_id in memories
    ]


def _load_memories(tenant: str, ids: Sequence[str], *, with_nodes: bool = False) -> dict[str, Memory]:
    if not ids:
        return {}
    manager = Memory.with_nodes if with_nodes else Memory.objects
    # An expired memory is left out, as if deleted (its links lead nowhere until the purge).
    queryset = manager.visible().filter(tenant=tenant, pk__in=ids).defer("search_document")
    return {str(memory.pk): memory for memory in queryset}


def neighbors_for_many(
    *,
    tenant: str,
    memory_ids: Sequence[uuid.UUID],
    hops: int,
    limit_per_memory: int = 5,
    direction: Direction = "both",
    link_type: str | None = None,
) -> dict[uuid.UUID, list[Neighbor]]:
    """For search's `expand_hops`: the memories linked to each of `memory_ids` (the hits, best first).

    Walks pass through bare coordinate nodes, but only memories are returned (search never
    answers with a node that holds no memory).

    Returns {hit id: [Neighbor, ...]} for every hit (possibly an empty list), each list nearest
    first, then strongest link first, at most `limit_per_memory` long. A memory appears at most
    once in the whole answer: under the hit that reaches it in the fewest hops (ties: the earlier
    hit). The hits themselves are never returned as neighbours. `Neighbor.origin_id` is the hit,
    `via_id` the memory at the other end of the link that brought it (the hit itself at depth 1).
    Queries: one per level (at most `hops`) plus one to load the memories; none for hops=0.
    """
    if not 0 <= hops <= MAX_EXPAND_HOPS:
        raise InvalidInput(f"hops must be between 0 and {MAX_EXPAND_HOPS}.", "invalid_hops")
    hits = [str(memory_id) for memory_id in dict.fromkeys(memory_ids)]
    order = {hit: rank for rank, hit in enumerate(hits)}
    found: dict[str, list[tuple[str, int, Step]]] = {hit: [] for hit in hits}
    if hops == 0 or limit_per_memory <= 0 or not hits:
        return {uuid.UUID(hit): [] for hit in hits}
    owner: dict[str, str] = {hit: hit for hit in hits}
    frontier = hits
    for depth in range(1, hops + 1):
        # Candidate steps per hit, then hits claim memories in rank order up to their limit.
        candidates: dict[str, dict[str, Step]] = {}
        for step in _links_from(frontier, direction=direction, link_type=link_type):
            origin, reached = owner[step[0]], step[1]
            if reached in owner or len(found[origin]) >= limit_per_memory:
                continue
            per_origin = candidates.setdefault(origin, {})
            current = per_origin.get(reached)
            if current is None or _preference(step) < _preference(current):
                per_origin[reached] = step
        frontier = []
        for origin in sorted(candidates, key=order.__getitem__):
            claimed = []
            room = limit_per_memory - len(found[origin])
            for reached, step in sorted(candidates[origin].items(), key=lambda item: _rank(item[1])):
                if room == 0:
                    break
                if reached in owner:
                    continue
                owner[reached] = origin
                found[origin].append((reached, depth, step))
                claimed.append(reached)
                room -= 1
            if room:
                frontier.extend(claimed)
        if not frontier:
            break
    memories = _load_memories(tenant, [reached for entries in found.values() for reached, _, _ in entries])
    return {
        uuid.UUID(origin): [
            Neighbor(
                node=memories[reached],
                depth=depth,
                link_type=step[2],
                strength=step[3],
                via_id=uuid.UUID(step[0]),
                origin_id=uuid.UUID(origin),
            )
            for reached, depth, step in entries
            if reached in memories
        ]
        for origin, entries in found.items()
    }


# --- shortest path ----------------------------------------------------------------------------


@dataclass
class GraphPath:
    nodes: list[Memory] = field(default_factory=list)
    link_types: list[str] = field(default_factory=list)

    @property
    def length(self) -> int:
        return len(self.link_types)


def path_find(
    *,
    tenant: str,
    source: Memory,
    target: Memory,
    max_length: int = 10,
    direction: Direction = "out",
    link_type: str | None = None,
) -> GraphPath | None:
    """A shortest path of at most `max_length` links from `source` to `target`, or None.

    Bidirectional breadth-first search: each step expands, by one whole level, the side whose
    frontier is smaller (forward along `direction`, backward against it), one query per level;
    the first level on which the two searches meet gives a shortest path. Queries: one per level
    (at most `max_length`) plus one to load the memories on a path found.
    """
    if source.pk == target.pk:
        return GraphPath(nodes=[source])
    # memory -> the step that reached it (None at the two ends)
    forward: dict[str, Step | None] = {str(source.pk): None}
    backward: dict[str, Step | None] = {str(target.pk): None}
    forward_frontier, backward_frontier = [str(source.pk)], [str(target.pk)]
    forward_depth = backward_depth = 0
    while forward_depth + backward_depth < max_length and forward_frontier and backward_frontier:
        # The smaller frontier is the cheaper level; on a tie, the shallower side (so a side
        # with no links at all is found out at once).
        expand_forward = (len(forward_frontier), forward_depth) <= (len(backward_frontier), backward_depth)
        frontier, other_frontier = (
            (forward_frontier, backward_frontier) if expand_forward else (backward_frontier, forward_frontier)
        )
        seen, other_seen = (forward, backward) if expand_forward else (backward, forward)
        # Searches can only meet on the other side's newest level (anything older would already
        # have met), and on the last level allowed only a meeting matters: ask for just that.
        last = forward_depth + backward_depth + 1 == max_length
        steps = _links_from(
            frontier,
            direction=direction if expand_forward else _reverse(direction),
            link_type=link_type,
            into=other_frontier if last else None,
        )
        level = _best_steps(steps, seen)
        seen.update(level)
        if expand_forward:
            forward_depth += 1
            forward_frontier = list(level)
        else:
            backward_depth += 1
            backward_frontier = list(level)
        meeting = [memory_id for memory_id in level if memory_id in other_seen]
        if meeting:
            return _path_through(tenant, min(meeting), forward, backward)
    return None


def _path_through(
    tenant: str,
    middle: str,
    forward: dict[str, Step | None],
    backward: dict[str, Step | None],
) -> GraphPath | None:
    ids, link_types = [middle], list[str]()
    step = forward[middle]
    while step is not None:
        ids.insert(0, step[0])
        link_types.insert(0, step[2])
        step = forward[step[0]]
    step = backward[middle]
    while step is not None:
        ids.append(step[0])
        link_types.append(step[2])
        step = backward[step[0]]
    memories = {
        str(memory.pk): memory
        for memory in Memory.with_nodes.visible().filter(tenant=tenant, pk__in=ids).only(*REF_FIELDS)
    }
    if len(memories) < len(ids):
        return None  # a memory on the way was deleted (or expired) meanwhile
    return GraphPath(nodes=[memories[memory_id] for memory_id in ids], link_types=link_types)


# --- counts -----------------------------------------------------------------------------------


def link_count(*, tenant: str | None = None) -> int:
    queryset = Link.objects.all() if tenant is None else Link.objects.for_tenant(tenant)
    return queryset.count()


def link_table_estimate() -> int:
    """The planner's row estimate for graph_link (0 before its first ANALYZE)."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT reltuples::bigint FROM pg_class WHERE oid = 'graph_link'::regclass")
        row = cursor.fetchone()
    return max(int(row[0]), 0) if row else 0


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
