"""Shortest paths between two nodes: a bidirectional breadth-first search."""

from __future__ import annotations

from collections.abc import Container, Iterable
from dataclasses import dataclass, field

from graph.selectors.nodes import REF_FIELDS
from graph.selectors.traversal import Direction, Step, links_from, step_preference
from memories.models import Memory


def _reverse(direction: Direction) -> Direction:
    return {"out": "in", "in": "out", "both": "both"}[direction]  # type: ignore[return-value]


def _best_steps(steps: Iterable[Step], visited: Container[str]) -> dict[str, Step]:
    """The preferred step to each memory not yet visited."""
    best: dict[str, Step] = {}
    for step in steps:
        reached = step[1]
        if reached in visited:
            continue
        current = best.get(reached)
        if current is None or step_preference(step) < step_preference(current):
            best[reached] = step
    return best


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
        steps = links_from(
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
