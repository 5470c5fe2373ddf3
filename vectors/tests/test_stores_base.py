"""The store interface, held by both stores (the embedded engine and qdrant-client's local mode)."""

from __future__ import annotations

import uuid

import numpy as np
import pytest

from tests_support.factories import Cond, ids_of, near, point, unit
from vectors.stores.base import VectorPoint, VectorStore


def test_collection_name_carries_model_and_dimension(store: VectorStore) -> None:
    assert store.collection_name == "soma_all-minilm-l6-v2_384_layout3"


def test_search_ranks_by_cosine_similarity(store: VectorStore) -> None:
    query = unit(100)
    points = [point(i, vector=near(query, noise, i)) for i, noise in enumerate([2.0, 0.1, 0.5])]
    store.upsert(points)

    hits = store.search(query, tenant="acme", limit=3)

    assert ids_of(hits) == [points[1].id, points[2].id, points[0].id]
    expected = float(np.dot(query, np.asarray(points[1].vector)))
    assert hits[0][1] == pytest.approx(expected, abs=1e-3)
    assert hits[0][1] > hits[1][1] > hits[2][1]


def test_tenants_never_see_each_other(store: VectorStore) -> None:
    shared = unit(7)
    store.upsert([point(1, tenant="a", vector=shared), point(2, tenant="b", vector=shared)])

    assert ids_of(store.search(shared, tenant="a")) == [point(1).id]
    assert ids_of(store.search(shared, tenant="b")) == [point(2).id]
    assert store.search(shared, tenant="nobody") == []


def test_namespace_and_memory_type_filters(store: VectorStore) -> None:
    store.upsert(
        [
            point(1, namespace="work", memory_type="episodic"),
            point(2, namespace="work", memory_type="semantic"),
            point(3, namespace="home", memory_type="semantic"),
        ]
    )
    query = unit(1)

    assert set(ids_of(store.search(query, tenant="acme", namespace="work"))) == {point(1).id, point(2).id}
    assert set(ids_of(store.search(query, tenant="acme", memory_type="semantic"))) == {point(2).id, point(3).id}
    assert ids_of(store.search(query, tenant="acme", namespace="home", memory_type="episodic")) == []


def test_a_namespace_search_stays_in_its_tenant(store: VectorStore) -> None:
    # Tenant and namespace share one indexed "scope" value: names that join to the same text
    # across the boundary must still be told apart.
    shared = unit(9)
    store.upsert(
        [
            point(1, tenant="a.b", namespace="c", vector=shared),
            point(2, tenant="a", namespace="b.c", vector=shared),
            point(3, tenant="a", namespace="c", vector=shared),
        ]
    )

    assert ids_of(store.search(shared, tenant="a.b", namespace="c")) == [point(1).id]
    assert ids_of(store.search(shared, tenant="a", namespace="b.c")) == [point(2).id]
    assert set(ids_of(store.search(shared, tenant="a"))) == {point(2).id, point(3).id}
    assert store.search(shared, tenant="a", namespace="a.b") == []


def test_offset_pages_through_the_ranking(store: VectorStore) -> None:
    query = unit(42)
    store.upsert([point(i, vector=near(query, 0.1 * (i + 1), i)) for i in range(8)])

    everything = ids_of(store.search(query, tenant="acme", limit=8))
    page = ids_of(store.search(query, tenant="acme", limit=3, offset=3))

    assert page == everything[3:6]
    assert store.search(query, tenant="acme", limit=3, offset=8) == []


def test_upsert_replaces_an_existing_point(store: VectorStore) -> None:
    store.upsert([point(1, metadata={"v": 1})])
    store.upsert([point(1, metadata={"v": 2})])

    assert store.count() == 1
    assert ids_of(store.search(unit(1), tenant="acme", conditions=[Cond("v", "eq", 2)])) == [point(1).id]
    assert store.search(unit(1), tenant="acme", conditions=[Cond("v", "eq", 1)]) == []


def test_delete_removes_points_and_ignores_unknown_ids(store: VectorStore) -> None:
    store.upsert([point(1), point(2)])

    store.delete([point(1).id, str(uuid.uuid4())])

    assert ids_of(store.search(unit(1), tenant="acme")) == [point(2).id]
    assert store.count() == 1


def test_count_and_iter_ids_per_tenant(store: VectorStore) -> None:
    store.upsert([point(i, tenant="a" if i % 3 else "b") for i in range(25)])

    expected_b = {point(i).id for i in range(25) if i % 3 == 0}

    assert store.count() == 25
    assert store.count(tenant="b") == len(expected_b)
    all_ids = list(store.iter_ids(batch=4))
    assert len(all_ids) == 25
    assert set(all_ids) == {point(i).id for i in range(25)}
    assert set(store.iter_ids(tenant="b", batch=3)) == expected_b


def test_recreate_empties_the_collection(store: VectorStore) -> None:
    store.upsert([point(1), point(2)])

    store.recreate()

    assert store.count() == 0
    store.upsert([point(3)])
    assert ids_of(store.search(unit(3), tenant="acme")) == [point(3).id]


def test_ids_are_normalised_uuids(store: VectorStore) -> None:
    memory_id = uuid.uuid4()
    store.upsert([VectorPoint(str(memory_id).upper(), unit(1), "acme", "default", "episodic", 0.0)])

    assert list(store.iter_ids()) == [str(memory_id)]
    store.delete([str(memory_id)])
    assert store.count() == 0


def test_wrong_dimension_and_bad_ids_raise_value_error(store: VectorStore) -> None:
    with pytest.raises(ValueError, match="384"):
        store.search([0.1, 0.2], tenant="acme")
    with pytest.raises(ValueError):
        store.upsert([VectorPoint("not-a-uuid", unit(1), "acme", "default", "episodic", 0.0)])
    assert store.count() == 0


def test_healthy(store: VectorStore) -> None:
    assert store.healthy()
