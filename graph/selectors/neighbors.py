"""Neighbours: the nodes within k hops of one node, and search's expansion of many hits."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass

from core.constants import MAX_EXPAND_HOPS
from core.errors import InvalidInput
from graph.errors import GraphErrorCode
from graph.selectors.traversal import Direction, Step, fetch_rows, links_from, step_preference, steps_sql
from memories.models import Memory

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


def _rank(step: Step) -> tuple[float, str]:
    """Order within one depth: strongest link first, then by memory id."""
    return (-step[3], step[1])


@dataclass(frozen=True)
class Neighbor:
    """A node reached from `origin_id` at `depth` hops; `via_id` -[link_type, strength]- it."""

    node: Memory
    depth: int
    link_type: str
    strength: float
    via_id: uuid.UUID
    origin_id: uuid.UUID

    @classmethod
    def reached(cls, node: Memory, *, depth: int, step: Step, origin_id: uuid.UUID) -> Neighbor:
        """The neighbour a traversal step (via, reached, link_type, strength) arrived at."""
        return cls(
            node=node, depth=depth, link_type=step[2], strength=step[3], via_id=uuid.UUID(step[0]), origin_id=origin_id
        )

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
        level: list[Step] = fetch_rows(
            _NEIGHBOR_LEVEL_SQL.format(steps=steps_sql(direction, link_type)),
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
        Neighbor.reached(memories[memory_id], depth=depth, step=step, origin_id=start.pk)
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
        raise InvalidInput(f"hops must be between 0 and {MAX_EXPAND_HOPS}.", GraphErrorCode.INVALID_HOPS)
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
        for step in links_from(frontier, direction=direction, link_type=link_type):
            origin, reached = owner[step[0]], step[1]
            if reached in owner or len(found[origin]) >= limit_per_memory:
                continue
            per_origin = candidates.setdefault(origin, {})
            current = per_origin.get(reached)
            if current is None or step_preference(step) < step_preference(current):
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
            Neighbor.reached(memories[reached], depth=depth, step=step, origin_id=uuid.UUID(origin))
            for reached, depth, step in entries
            if reached in memories
        ]
        for origin, entries in found.items()
    }
