"""The embedded store (EdgeStore): float16 vectors, persistence, the folder lock, payload indexes."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest
import qdrant_edge as qe

from tests_support.factories import Cond, ids_of, near, point, unit
from vectors.embedding import MODEL_NAME
from vectors.stores.base import VectorStoreError
from vectors.stores.edge import EdgeStore


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


def test_operator_keys_get_field_indexes_on_the_embedded_store(edge_store: Any):
    keys = {"user_id": "keyword", "score": "float"}

    created = edge_store.payload_indexes_ensure(keys=keys)
    again = edge_store.payload_indexes_ensure(keys=keys)

    assert sorted(created) == ["metadata.score", "metadata.user_id", "payload.score", "payload.user_id"]
    assert again == []
    with edge_store._using("info") as shard:
        assert set(created) <= set(shard.info().payload_schema)
