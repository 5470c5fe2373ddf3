from __future__ import annotations

import itertools
import random
from collections import deque

import pytest

from graph.selectors.neighbors import neighbors_find, neighbors_for_many
from graph.selectors.nodes import MemoryRef
from graph.selectors.paths import path_find
from graph.services import link_upsert
from tests_support.factories import LinkFactory, MemoryFactory

pytestmark = pytest.mark.django_db


def found(graph, neighbors):
    return [(graph.name_of(n.id), n.depth) for n in neighbors]


# --- neighbours ---------------------------------------------------------------------------------


def test_diamond_reaches_the_far_corner_once_at_its_smallest_depth(make_graph, django_assert_num_queries):
    g = make_graph("a>b a>c b>d c>d")

    # levels 1, 2 and 3 (nothing beyond d), then the memories
    with django_assert_num_queries(4):
        result = neighbors_find(tenant="default", start=g["a"], hops=3)

    assert sorted(found(g, result)) == [("b", 1), ("c", 1), ("d", 2)]


def test_cycle_terminates_and_never_returns_the_start(make_graph, django_assert_num_queries):
    g = make_graph("a>b b>c c>a")

    # levels 1, 2, 3 (which finds only the start: nothing new, stop), then the memories
    with django_assert_num_queries(4):
        result = neighbors_find(tenant="default", start=g["a"], hops=6)

    assert found(g, result) == [("b", 1), ("c", 2)]


def test_depth_cap(make_graph):
    g = make_graph("n0>n1 n1>n2 n2>n3 n3>n4 n4>n5 n5>n6 n6>n7")

    assert found(g, neighbors_find(tenant="default", start=g["n0"], hops=1)) == [("n1", 1)]
    assert [name for name, _ in found(g, neighbors_find(tenant="default", start=g["n0"], hops=3))] == [
        "n1",
        "n2",
        "n3",
    ]
    six = found(g, neighbors_find(tenant="default", start=g["n0"], hops=6, limit=100))
    assert six == [(f"n{i}", i) for i in range(1, 7)]


def test_direction(make_graph):
    g = make_graph("a>b a>c b>d c>d x>d")

    assert found(g, neighbors_find(tenant="default", start=g["d"], hops=2, direction="out")) == []
    into = neighbors_find(tenant="default", start=g["d"], hops=2, direction="in")
    assert sorted(found(g, into)) == [("a", 2), ("b", 1), ("c", 1), ("x", 1)]
    both = neighbors_find(tenant="default", start=g["b"], hops=2, direction="both")
    assert sorted(found(g, both)) == [("a", 1), ("c", 2), ("d", 1), ("x", 2)]


def test_link_type_filter_applies_on_every_hop(make_graph):
    g = make_graph("a>b:cites b>c:mentions a>d:mentions d>e:cites")

    cites = neighbors_find(tenant="default", start=g["a"], hops=3, link_type="cites")
    assert found(g, cites) == [("b", 1)]
    assert cites[0].link_type == "cites"
    mentions = neighbors_find(tenant="default", start=g["a"], hops=3, link_type="mentions")
    assert found(g, mentions) == [("d", 1)]


def test_limit_stops_the_walk_early_and_keeps_the_strongest(make_graph, django_assert_num_queries):
    g = make_graph("a>b::0.2 a>c::0.9 a>d::0.5 a>e::0.7 b>f c>g")

    # one level already gives three: the second is never read
    with django_assert_num_queries(2):
        result = neighbors_find(tenant="default", start=g["a"], hops=3, limit=3)

    assert found(g, result) == [("c", 1), ("e", 1), ("d", 1)]
    assert [n.strength for n in result] == [0.9, 0.7, 0.5]
    page_two = neighbors_find(tenant="default", start=g["a"], hops=3, limit=3, offset=3)
    assert found(g, page_two)[0] == ("b", 1)
    assert sorted(found(g, page_two)) == [("b", 1), ("f", 2), ("g", 2)]


def test_nearest_first_then_strongest(make_graph):
    g = make_graph("a>b::0.1 b>c::1.0 a>d::0.3")

    result = neighbors_find(tenant="default", start=g["a"], hops=2)

    assert found(g, result) == [("d", 1), ("b", 1), ("c", 2)]
    assert result[2].via_id == g["b"].pk


def test_the_link_that_brought_a_memory_is_the_strongest_of_its_level(make_graph):
    g = make_graph("a>b a>c b>d::0.2 c>d::0.8")

    (d,) = [n for n in neighbors_find(tenant="default", start=g["a"], hops=2) if n.depth == 2]

    assert d.via_id == g["c"].pk
    assert d.strength == 0.8


def test_isolated_memory_has_no_neighbours_and_costs_one_query(make_graph, django_assert_num_queries):
    g = make_graph(nodes="a")

    with django_assert_num_queries(1):
        assert neighbors_find(tenant="default", start=g["a"], hops=6) == []


def test_neighbours_come_with_their_memory(make_graph):
    g = make_graph("a>b")

    (b,) = neighbors_find(tenant="default", start=g["a"])

    assert b.memory.payload == g["b"].payload
    assert b.memory.coord_key == g.coord("b")


# --- shortest paths -----------------------------------------------------------------------------


def path_names(g, path):
    return [g.name_of(m.pk) for m in path.nodes]


def test_path_is_the_shortest_of_several_routes(make_graph, django_assert_num_queries):
    g = make_graph("a>b b>c c>d d>e a>x x>y y>e a>p p>e")

    # forward a (3 out), backward e (3 in), forward again: a's level meets e's level
    with django_assert_num_queries(3):
        path = path_find(tenant="default", source=g["a"], target=g["e"])

    assert path is not None
    assert path_names(g, path) == ["a", "p", "e"]
    assert path.length == 2
    assert path.link_types == ["related", "related"]


def test_path_respects_direction(make_graph):
    g = make_graph("a>b b>c")

    assert path_find(tenant="default", source=g["c"], target=g["a"], direction="out") is None
    back = path_find(tenant="default", source=g["c"], target=g["a"], direction="in")
    assert back is not None
    assert path_names(g, back) == ["c", "b", "a"]
    both = path_find(tenant="default", source=g["c"], target=g["a"], direction="both")
    assert both is not None
    assert path_names(g, both) == ["c", "b", "a"]


def test_path_link_type_filter_and_types_reported(make_graph):
    g = make_graph("a>b:cites b>c:cites a>c:mentions")

    typed = path_find(tenant="default", source=g["a"], target=g["c"], link_type="cites")
    assert typed is not None
    assert path_names(g, typed) == ["a", "b", "c"]
    assert typed.link_types == ["cites", "cites"]
    shortest = path_find(tenant="default", source=g["a"], target=g["c"])
    assert shortest is not None
    assert shortest.link_types == ["mentions"]


def test_path_max_length(make_graph):
    g = make_graph("a>b b>c c>d")

    assert path_find(tenant="default", source=g["a"], target=g["d"], max_length=2) is None
    path = path_find(tenant="default", source=g["a"], target=g["d"], max_length=3)
    assert path is not None
    assert path.length == 3


def test_disconnected_pair_stops_when_a_side_runs_dry(make_graph, django_assert_num_queries):
    g = make_graph("a>b b>c c>d", nodes="z")

    # forward from a, then backward from z (no links in): its frontier is empty, stop
    with django_assert_num_queries(2):
        assert path_find(tenant="default", source=g["a"], target=g["z"], max_length=12) is None


def test_path_through_a_cycle(make_graph):
    g = make_graph("a>b b>c c>a c>d")

    path = path_find(tenant="default", source=g["b"], target=g["d"])

    assert path is not None
    assert path_names(g, path) == ["b", "c", "d"]


def test_path_to_itself_is_empty_and_free(make_graph, django_assert_num_queries):
    g = make_graph("a>b")

    with django_assert_num_queries(0):
        path = path_find(tenant="default", source=g["a"], target=g["a"])

    assert path is not None
    assert path.length == 0
    assert path_names(g, path) == ["a"]


# --- against a reference breadth-first search on random graphs ------------------------------------


def _reference_depths(edges, start, direction, max_depth):
    adjacency: dict[int, set[int]] = {}
    for s, t in edges:
        if direction in ("out", "both"):
            adjacency.setdefault(s, set()).add(t)
        if direction in ("in", "both"):
            adjacency.setdefault(t, set()).add(s)
    depths = {start: 0}
    queue = deque([start])
    while queue:
        node = queue.popleft()
        if depths[node] == max_depth:
            continue
        for other in adjacency.get(node, ()):
            if other not in depths:
                depths[other] = depths[node] + 1
                queue.append(other)
    return depths


@pytest.mark.parametrize("seed", range(6))
def test_random_graphs_agree_with_a_reference_bfs(seed):
    rng = random.Random(seed)
    memories = [MemoryFactory() for _ in range(25)]
    edges = set()
    while len(edges) < 40:
        s, t = rng.randrange(25), rng.randrange(25)
        if s != t:
            edges.add((s, t))
    for s, t in edges:
        LinkFactory(source=memories[s], target=memories[t])
    index = {m.pk: i for i, m in enumerate(memories)}

    for direction in ("out", "in", "both"):
        start = rng.randrange(25)
        expected = _reference_depths(edges, start, direction, 4)
        got = neighbors_find(tenant="default", start=memories[start], hops=4, limit=1000, direction=direction)
        assert {index[n.id]: n.depth for n in got} == {k: v for k, v in expected.items() if k != start}
        for _ in range(5):
            target = rng.randrange(25)
            reference = _reference_depths(edges, start, direction, 12).get(target)
            path = path_find(
                tenant="default", source=memories[start], target=memories[target], max_length=12, direction=direction
            )
            assert (path.length if path else None) == reference
            if path:
                hops = [index[m.pk] for m in path.nodes]
                assert hops[0] == start and hops[-1] == target
                for left, right in itertools.pairwise(hops):
                    allowed = {
                        "out": (left, right) in edges,
                        "in": (right, left) in edges,
                        "both": (left, right) in edges or (right, left) in edges,
                    }
                    assert allowed[direction]


# --- expansion for search -----------------------------------------------------------------------


def test_neighbors_for_many(make_graph, django_assert_num_queries):
    g = make_graph("a>b b>c d>e e>c x>a:cites:0.3 a>f::0.1")

    with django_assert_num_queries(3):  # two levels, then the memories
        expanded = neighbors_for_many(tenant="default", memory_ids=[g["a"].pk, g["d"].pk], hops=2)

    by_hit = {
        g.name_of(hit): [(g.name_of(n.id), n.depth, g.name_of(n.via_id)) for n in ns] for hit, ns in expanded.items()
    }
    # c is two hops from both hits: the earlier hit (a) keeps it; hits are never neighbours
    assert by_hit == {
        "a": [("b", 1, "a"), ("x", 1, "a"), ("f", 1, "a"), ("c", 2, "b")],
        "d": [("e", 1, "d")],
    }
    x = expanded[g["a"].pk][1]
    assert (x.link_type, x.strength, x.origin_id) == ("cites", 0.3, g["a"].pk)


def test_neighbors_for_many_limits_and_directions(make_graph, django_assert_num_queries):
    g = make_graph("a>b::0.9 a>c::0.8 a>d::0.7 e>a")

    both = neighbors_for_many(tenant="default", memory_ids=[g["a"].pk], hops=1, limit_per_memory=2)
    assert [g.name_of(n.id) for n in both[g["a"].pk]] == ["e", "b"]  # e>a has strength 1.0
    out = neighbors_for_many(tenant="default", memory_ids=[g["a"].pk], hops=1, limit_per_memory=2, direction="out")
    assert [g.name_of(n.id) for n in out[g["a"].pk]] == ["b", "c"]
    into = neighbors_for_many(tenant="default", memory_ids=[g["a"].pk], hops=1, limit_per_memory=9, direction="in")
    assert [g.name_of(n.id) for n in into[g["a"].pk]] == ["e"]
    with django_assert_num_queries(0):
        assert neighbors_for_many(tenant="default", memory_ids=[g["a"].pk], hops=0) == {g["a"].pk: []}


def test_neighbors_for_many_stays_in_the_tenant(make_graph):
    mine = make_graph("a>b", tenant="t1")
    theirs = make_graph("a>b", tenant="t2", second=2.0)

    expanded = neighbors_for_many(tenant="t1", memory_ids=[mine["a"].pk, theirs["a"].pk], hops=2)

    assert [n.id for n in expanded[mine["a"].pk]] == [mine["b"].pk]
    assert expanded[theirs["a"].pk] == []


def _reference_neighbours(links, start, hops):
    """[(id, depth, strength, via, link_type)] nearest first, then strongest, then by id."""
    found, frontier, seen = [], {start}, {start}
    for depth in range(1, hops + 1):
        best = {}
        for source, target, link_type, strength in links:
            if source in frontier and target not in seen:
                key = (-strength, link_type, str(source))
                if target not in best or key < best[target][0]:
                    best[target] = (key, source, link_type, strength)
        level = sorted(best.items(), key=lambda item: (-item[1][3], str(item[0])))
        found += [(target, depth, strength, source, link_type) for target, (_, source, link_type, strength) in level]
        seen |= set(best)
        frontier = set(best)
    return found


@pytest.mark.parametrize("seed", range(4))
def test_levels_cut_in_the_database_agree_with_a_full_ranking(seed):
    rng = random.Random(seed)
    memories = [MemoryFactory() for _ in range(30)]
    pairs = set()
    while len(pairs) < 90:
        s, t = rng.randrange(30), rng.randrange(30)
        if s != t:
            pairs.add((s, t, rng.choice(["a", "B", "c"])))
    links = []
    for s, t, link_type in pairs:
        strength = rng.choice([0.1, 0.5, 0.5, 1.0])  # ties on purpose
        LinkFactory(source=memories[s], target=memories[t], link_type=link_type, strength=strength)
        links.append((memories[s].pk, memories[t].pk, link_type, strength))

    start = memories[0]
    expected = _reference_neighbours(links, start.pk, 3)
    for limit, offset in ((1, 0), (3, 0), (5, 2), (12, 7), (100, 0)):
        got = neighbors_find(tenant="default", start=start, hops=3, limit=limit, offset=offset)
        assert [(n.id, n.depth, n.strength, n.via_id, n.link_type) for n in got] == expected[offset : offset + limit]


# --- bare coordinate nodes ----------------------------------------------------------------------


def _bare_chain():
    """memory a -> bare x -> memory b, linked by coordinate as the earlier clients do."""
    a, b = MemoryFactory(coordinate=[1.0]), MemoryFactory(coordinate=[3.0])
    link_upsert(tenant="default", source=MemoryRef(coord_key="1.0"), target=MemoryRef(coord_key="2.0"))
    link_upsert(tenant="default", source=MemoryRef(coord_key="2.0"), target=MemoryRef(coord_key="3.0"))
    return a, b


def test_walks_pass_through_a_bare_node_and_show_it_without_a_memory():
    a, b = _bare_chain()

    result = neighbors_find(tenant="default", start=a, hops=2)
    path = path_find(tenant="default", source=a, target=b)

    assert [(n.node.coord_key, n.depth, n.memory is None) for n in result] == [("2.0", 1, True), ("3.0", 2, False)]
    assert result[1].memory == b
    assert path is not None and [node.coord_key for node in path.nodes] == ["1.0", "2.0", "3.0"]
    assert path.nodes[1].bare_node is True


def test_search_expansion_returns_memories_only():
    a, b = _bare_chain()

    expanded = neighbors_for_many(tenant="default", memory_ids=[a.pk], hops=2)

    # the bare node at depth 1 is walked through, never returned
    assert [(n.memory, n.depth) for n in expanded[a.pk]] == [(b, 2)]
