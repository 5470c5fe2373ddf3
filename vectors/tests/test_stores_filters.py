"""Search filters (vectors.stores.filters) as both stores run them."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from tests_support.factories import T0, Cond, ids_of, near, point, unit
from vectors.stores.base import VectorStore


@pytest.fixture
def filter_points(store: VectorStore) -> dict[str, str]:
    points = {
        "p_red": point(1, payload={"color": "red", "size": 3, "score": 0.5, "tags": ["x", "y"]}, created=T0),
        "p_blue": point(
            2, payload={"color": "blue", "size": 10, "nested": {"deep": "yes"}}, created=T0 + timedelta(days=1)
        ),
        "m_red": point(3, metadata={"color": "red", "size": 7, "pinned": True}, created=T0 + timedelta(days=2)),
        "m_green": point(
            4,
            metadata={"color": "green", "pinned": False, "when": "2024-03-01T00:00:00+00:00"},
            created=T0 + timedelta(days=3),
        ),
    }
    store.upsert(list(points.values()))
    return {name: p.id for name, p in points.items()}


CASES: list[tuple[Cond, set[str]]] = [
    (Cond("color", "eq", "red"), {"p_red", "m_red"}),
    (Cond("color", "in", ["blue", "green"]), {"p_blue", "m_green"}),
    (Cond("size", "eq", 7), {"m_red"}),
    (Cond("size", "in", [3, 10]), {"p_red", "p_blue"}),
    (Cond("size", "in", [3, "green"]), {"p_red"}),
    (Cond("size", "gt", 3), {"p_blue", "m_red"}),
    (Cond("size", "gte", 3), {"p_red", "p_blue", "m_red"}),
    (Cond("size", "lt", 7), {"p_red"}),
    (Cond("size", "lte", 7), {"p_red", "m_red"}),
    (Cond("score", "eq", 0.5), {"p_red"}),
    (Cond("pinned", "eq", True), {"m_red"}),
    (Cond("pinned", "eq", False), {"m_green"}),
    (Cond("nested.deep", "eq", "yes"), {"p_blue"}),
    (Cond("tags", "eq", "y"), {"p_red"}),
    (Cond("missing", "eq", "anything"), set()),
    (Cond("color", "in", []), set()),
    (Cond("when", "gte", datetime(2024, 2, 1, tzinfo=UTC)), {"m_green"}),
    (Cond("created_at", "gte", T0 + timedelta(days=1)), {"p_blue", "m_red", "m_green"}),
    (Cond("created_at", "lt", T0 + timedelta(days=1)), {"p_red"}),
    (Cond("created_at", "eq", T0 + timedelta(days=2)), {"m_red"}),
    (Cond("created_at", "in", [T0, T0 + timedelta(days=3)]), {"p_red", "m_green"}),
    (Cond("created_at", "in", []), set()),
]


@pytest.mark.parametrize(("condition", "expected"), CASES, ids=[f"{c.key}-{c.op}-{c.value}" for c, _ in CASES])
def test_conditions_match_payload_or_metadata(
    store: VectorStore, filter_points: dict[str, str], condition: Cond, expected: set[str]
) -> None:
    hits = store.search(unit(0), tenant="acme", conditions=[condition], limit=10)

    assert set(ids_of(hits)) == {filter_points[name] for name in expected}


def test_conditions_are_anded(store: VectorStore, filter_points: dict[str, str]) -> None:
    conditions = [Cond("color", "eq", "red"), Cond("created_at", "gt", T0)]

    hits = store.search(unit(0), tenant="acme", conditions=conditions)

    assert ids_of(hits) == [filter_points["m_red"]]


def test_filter_runs_before_ranking(store: VectorStore) -> None:
    query = unit(5000)
    crowd = [point(i, vector=near(query, 0.3, i)) for i in range(1999)]
    needle = point(1999, vector=near(query, 3.0, 1999), metadata={"project": "needle"})
    store.upsert(crowd[:1000])
    store.upsert([*crowd[1000:], needle])

    hits = store.search(query, tenant="acme", conditions=[Cond("project", "eq", "needle")], limit=5)

    assert ids_of(hits) == [needle.id]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"conditions": [Cond("color", "like", "red")]}, "like"),
        ({"conditions": [Cond("", "eq", "red")]}, "invalid filter key"),
        ({"conditions": [Cond("a..b", "eq", "red")]}, "invalid filter key"),
        ({"conditions": [Cond("created_at", "gte", datetime(2024, 1, 1))]}, "timezone-aware"),
        ({"conditions": [Cond("created_at", "gte", 5)]}, "timezone-aware"),
        ({"conditions": [Cond("size", "gt", "big")]}, "number or a datetime"),
        ({"conditions": [Cond("size", "in", "abc")]}, "without a list"),
        ({"limit": 0}, "limit"),
        ({"offset": -1}, "offset"),
    ],
)
def test_bad_requests_raise_value_error(store: VectorStore, kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        store.search(unit(1), tenant="acme", **kwargs)


def test_equality_on_a_long_string_still_matches(store: VectorStore) -> None:
    # Given a value too long for the equality index (it stays in the payload only)
    long_value = "x" * 300
    store.upsert([point(1, payload={"note": long_value}), point(2, payload={"note": "short"})])
    # When filtering on it, Then the payload path finds it
    assert ids_of(store.search(unit(1), tenant="acme", conditions=[Cond("note", "eq", long_value)])) == [point(1).id]
    assert ids_of(store.search(unit(1), tenant="acme", conditions=[Cond("note", "in", ["short", long_value])])) == [
        point(1).id,
        point(2).id,
    ]


def test_equality_distinguishes_types_and_array_elements(store: VectorStore) -> None:
    # Given "1", 1 and true under the same key, and an array of objects
    store.upsert(
        [
            point(1, payload={"v": "1"}),
            point(2, payload={"v": 1}),
            point(3, metadata={"v": True, "items": [{"sku": "a"}, {"sku": "b"}]}),
        ]
    )

    def found(cond: Cond) -> set[str]:
        return set(ids_of(store.search(unit(1), tenant="acme", conditions=[cond])))

    # Then each matches only its own type, and an array matches by any element
    assert found(Cond("v", "eq", "1")) == {point(1).id}
    assert found(Cond("v", "eq", 1)) == {point(2).id}
    assert found(Cond("v", "eq", True)) == {point(3).id}
    assert found(Cond("items.sku", "eq", "b")) == {point(3).id}
