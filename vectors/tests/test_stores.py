from __future__ import annotations

import json
import subprocess
import sys
import textwrap
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import qdrant_edge as qe

from vectors.embedding import MODEL_NAME
from vectors.stores.base import VectorPoint, VectorStore, VectorStoreError
from vectors.stores.client import ClientStore
from vectors.stores.edge import EdgeStore

DIM = 384
T0 = datetime(2024, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class Cond:
    key: str
    op: str
    value: Any


def unit(seed: int) -> np.ndarray:
    vector = np.random.default_rng(seed).standard_normal(DIM).astype(np.float32)
    return vector / np.linalg.norm(vector)


def near(vector: np.ndarray, noise: float, seed: int) -> np.ndarray:
    moved = vector + noise * unit(seed)
    return moved / np.linalg.norm(moved)


def point(
    seed: int,
    *,
    tenant: str = "acme",
    namespace: str = "default",
    memory_type: str = "episodic",
    created: datetime = T0,
    payload: dict[str, Any] | None = None,
    metadata: dict[str, Any] | None = None,
    vector: np.ndarray | None = None,
) -> VectorPoint:
    return VectorPoint(
        id=str(uuid.UUID(int=seed + 1)),
        vector=unit(seed) if vector is None else vector,
        tenant=tenant,
        namespace=namespace,
        memory_type=memory_type,
        created_ts=created.timestamp(),
        payload=payload or {},
        metadata=metadata or {},
    )


@pytest.fixture(params=["edge", "client"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[VectorStore]:
    made: VectorStore = (
        EdgeStore(tmp_path / "qdrant", model_name=MODEL_NAME)
        if request.param == "edge"
        else ClientStore(location=":memory:", model_name=MODEL_NAME)
    )
    made.ensure_collection()
    yield made
    made.close()


def ids_of(hits: list[tuple[str, float]]) -> list[str]:
    return [hit_id for hit_id, _ in hits]


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


def test_wrong_dimension_and_bad_ids_raise_value_error(store: VectorStore) -> None:
    with pytest.raises(ValueError, match="384"):
        store.search([0.1, 0.2], tenant="acme")
    with pytest.raises(ValueError):
        store.upsert([VectorPoint("not-a-uuid", unit(1), "acme", "default", "episodic", 0.0)])
    assert store.count() == 0


def test_healthy(store: VectorStore) -> None:
    assert store.healthy()


# --- EdgeStore only ---------------------------------------------------------------


def test_edge_stores_float16_and_scores_as_float32_would(tmp_path: Path) -> None:
    halves = EdgeStore(tmp_path / "f16", model_name=MODEL_NAME)
    full = EdgeStore(tmp_path / "f32", model_name=MODEL_NAME, datatype=qe.VectorStorageDatatype.Float32)
    query = unit(1000)
    points = [point(i, vector=near(query, 0.2 + i / 50, i)) for i in range(200)]
    for made in (halves, full):
        made.upsert(points)

    exact = full.search(query, tenant="acme", limit=20)
    approximate = halves.search(query, tenant="acme", limit=20)

    persisted = json.loads((halves.shard_path / "edge_config.json").read_text())  # the engine's own record
    assert persisted["vectors"][""]["datatype"] == "float16"
    assert (halves.info()["datatype"], full.info()["datatype"]) == ("float16", "float32")
    assert ids_of(approximate) == ids_of(exact)
    assert max(abs(a - b) for (_, a), (_, b) in zip(approximate, exact, strict=True)) < 1e-3
    halves.close()
    full.close()


def test_edge_data_survives_close_and_reopen(tmp_path: Path) -> None:
    first = EdgeStore(tmp_path, model_name=MODEL_NAME)
    first.upsert([point(1, metadata={"k": "v"}), point(2)])
    first.delete([point(2).id])
    first.close()

    reopened = EdgeStore(tmp_path, model_name=MODEL_NAME)

    assert reopened.count() == 1
    hits = reopened.search(unit(1), tenant="acme", conditions=[Cond("k", "eq", "v")])
    assert ids_of(hits) == [point(1).id]
    reopened.close()


def test_edge_writes_survive_a_killed_process(tmp_path: Path) -> None:
    script = textwrap.dedent(
        f"""
        import os, uuid
        from vectors.stores.base import VectorPoint
        from vectors.stores.edge import EdgeStore
        store = EdgeStore({str(tmp_path)!r}, model_name={MODEL_NAME!r}, flush_interval=3600)
        store.upsert([VectorPoint(str(uuid.UUID(int=i + 1)), [1.0] * 384, "acme", "default", "episodic", 0.0)
                      for i in range(50)])
        os._exit(0)  # no flush, no close
        """
    )
    subprocess.run([sys.executable, "-c", script], check=True, cwd=Path(__file__).resolve().parents[2])

    reopened = EdgeStore(tmp_path, model_name=MODEL_NAME)

    assert reopened.count() == 50
    reopened.close()


def test_edge_folder_is_locked_by_one_store(tmp_path: Path) -> None:
    owner = EdgeStore(tmp_path, model_name=MODEL_NAME)
    owner.ensure_collection()

    with pytest.raises(VectorStoreError, match="locked"):
        EdgeStore(tmp_path, model_name=MODEL_NAME).ensure_collection()
    owner.close()


def test_edge_closed_store_refuses_work(tmp_path: Path) -> None:
    store = EdgeStore(tmp_path, model_name=MODEL_NAME)
    store.close()

    with pytest.raises(VectorStoreError, match="closed"):
        store.count()
    assert not store.healthy()


def test_edge_build_index_keeps_results(tmp_path: Path) -> None:
    store = EdgeStore(tmp_path, model_name=MODEL_NAME)
    query = unit(9)
    store.upsert([point(i, vector=near(query, 0.2 * (i + 1), i)) for i in range(50)])
    before = ids_of(store.search(query, tenant="acme", limit=5))

    store.build_index()

    assert ids_of(store.search(query, tenant="acme", limit=5)) == before
    assert store.info()["points"] == 50
    store.close()


def test_client_store_unreachable_server_raises_vector_store_error() -> None:
    store = ClientStore(url="http://127.0.0.1:9", model_name=MODEL_NAME, timeout=1)

    assert not store.healthy()
    with pytest.raises(VectorStoreError):
        store.search(unit(1), tenant="acme")


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
