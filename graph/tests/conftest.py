from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import pytest

from graph.models import Link
from memories.models import Memory
from tests_support.factories import LinkFactory, MemoryFactory

Edge = tuple[str, str] | tuple[str, str, str] | tuple[str, str, str, float]


class Graph(dict[str, Memory]):
    """Named memories of one tenant; `g["a"]` is a Memory, `g.coord("a")` its coordinate string."""

    def coord(self, name: str) -> str:
        key = self[name].coord_key
        assert key is not None
        return key

    def id(self, name: str) -> str:
        return str(self[name].pk)

    def name_of(self, memory_id: Any) -> str:
        return next(name for name, memory in self.items() if str(memory.pk) == str(memory_id))


@pytest.fixture
def make_graph(db: Any) -> Callable[..., Graph]:
    """make_graph("a>b b>c", "c>a:cites:0.5", nodes="z", tenant="t1"): named memories, linked.

    An edge is `source>target[:link_type[:strength]]`. Each memory's coordinate is
    "<n>.0,<second>", n counting up per test, so several graphs of one test never collide.
    """
    counter = iter(range(1, 100_000))

    def make(*specs: str, nodes: Iterable[str] = (), tenant: str = "default", second: float = 0.5) -> Graph:
        graph = Graph()

        def node(name: str) -> Memory:
            if name not in graph:
                graph[name] = MemoryFactory(tenant=tenant, coordinate=[float(next(counter)), second])
            return graph[name]

        for name in nodes:
            node(name)
        for spec in specs:
            for edge in spec.split():
                ends, _, rest = edge.partition(":")
                source, target = ends.split(">")
                link_type, _, strength = rest.partition(":")
                LinkFactory(
                    source=node(source),
                    target=node(target),
                    tenant=tenant,
                    link_type=link_type or "related",
                    strength=float(strength or 1.0),
                )
        return graph

    return make


def link_rows() -> list[tuple[Any, ...]]:
    return sorted(Link.objects.values_list("tenant", "source_id", "target_id", "link_type", "strength", "metadata"))
