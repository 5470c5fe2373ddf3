"""EdgeStore.index_aside: the int8 index built by a child process on a copy, swapped in while serving."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from tests_support.factories import QUERY, filled, ids_of, near, point, quantized_segments, unit
from vectors.embedding import MODEL_NAME
from vectors.stores.base import VectorStoreError
from vectors.stores.edge import EdgeStore


def folders(root: Path) -> list[str]:
    return sorted(path.name for path in root.iterdir() if path.is_dir())


def test_index_aside_indexes_and_answers_as_before(tmp_path: Path) -> None:
    store = filled(tmp_path)
    before = store.search(QUERY, tenant="acme", limit=10)
    first_folder = store.shard_path
    assert store.info()["unindexed"] == 300
    assert not quantized_segments(store)

    assert store.index_aside()

    assert quantized_segments(store)
    assert store.shard_path != first_folder and not first_folder.exists()
    assert folders(tmp_path) == [store.shard_path.name]
    assert store.info()["unindexed"] == 0
    after = store.search(QUERY, tenant="acme", limit=10)
    assert ids_of(after) == ids_of(before)
    store.close()

    reopened = EdgeStore(tmp_path, model_name=MODEL_NAME)
    assert reopened.count() == 300
    assert reopened.info()["unindexed"] == 0
    assert quantized_segments(reopened)
    reopened.close()


def test_writes_made_during_the_build_are_kept(tmp_path: Path) -> None:
    """The build's three steps, with writes between them, as the child's run and the catch-up
    leave room for: before the child starts, and after it ends but before the swap."""
    store = filled(tmp_path)
    top = ids_of(store.search(QUERY, tenant="acme", limit=3))

    staged = store._index_stage()
    assert staged is not None
    assert store._index_stage() is None  # one build at a time
    store.upsert([point(900, vector=QUERY)])  # a new best match
    store.delete([top[0]])
    store.upsert([point(int(top[1].split("-")[-1], 16) - 1, vector=unit(77))])  # moved away
    store._index_build(staged[0], timeout=120)
    store.upsert([point(901, vector=near(QUERY, 0.01, 5))])
    assert store._index_swap(*staged)

    expected = [point(900).id, point(901).id, top[2]]
    assert ids_of(store.search(QUERY, tenant="acme", limit=3)) == expected
    assert store.count() == 301
    assert store.info()["unindexed"] == 3  # the three upserts since the copy
    store.close()
    reopened = EdgeStore(tmp_path, model_name=MODEL_NAME)
    assert ids_of(reopened.search(QUERY, tenant="acme", limit=3)) == expected
    # A new process only knows the count: 301 points now, 300 when the index was built.
    assert reopened.info()["unindexed"] == 1
    reopened.close()


def test_a_search_running_on_the_old_shard_finishes_before_it_closes(tmp_path: Path) -> None:
    store = filled(tmp_path)
    staged = store._index_stage()
    assert staged is not None
    store._index_build(staged[0], timeout=120)
    old_folder = store.shard_path

    with store._using("search") as old_shard:
        swapper = threading.Thread(target=store._index_swap, args=staged)
        swapper.start()
        for _ in range(600):  # the new shard serves as soon as it is swapped in...
            if store.shard_path != old_folder:
                break
            swapper.join(0.05)
        assert store.shard_path == staged[0]
        assert ids_of(store.search(QUERY, tenant="acme", limit=1)) == [point(0).id]
        swapper.join(0.3)
        assert swapper.is_alive() and old_folder.exists()  # ...the old one waits for this search
        assert old_shard.info().points_count == 300

    swapper.join(30)
    assert not swapper.is_alive() and not old_folder.exists()
    store.close()


def test_a_build_is_thrown_away_when_the_store_is_recreated(tmp_path: Path) -> None:
    store = filled(tmp_path)
    staged = store._index_stage()
    assert staged is not None
    store.recreate()
    store.upsert([point(1)])

    assert not store._index_swap(*staged)
    assert store.count() == 1
    assert not quantized_segments(store)
    store.close()


def test_a_closed_store_stops_its_build(tmp_path: Path) -> None:
    store = filled(tmp_path)
    store.close()

    with pytest.raises(VectorStoreError, match="closed"):
        store.index_aside()
    assert folders(tmp_path) == [store.collection_name]


def test_a_failed_build_leaves_the_store_as_it_was(tmp_path: Path) -> None:
    store = filled(tmp_path)
    staged = store._index_stage()
    assert staged is not None
    (staged[0] / "edge_config.json").write_text("not json")  # the child cannot load this copy

    with pytest.raises(VectorStoreError, match="index build failed"):
        store._index_build(staged[0], timeout=120)
    store._replay = None

    assert store.count() == 300
    assert store.index_aside()  # and a later build works
    store.close()


def test_open_removes_what_an_interrupted_build_left(tmp_path: Path) -> None:
    store = filled(tmp_path)
    store.index_aside()
    current = store.shard_path
    staged = store._index_stage()  # a copy that never gets swapped in: the process dies here
    assert staged is not None
    store.close()
    (tmp_path / store.collection_name).mkdir()  # the folder a swap replaced, not yet deleted

    reopened = EdgeStore(tmp_path, model_name=MODEL_NAME)
    assert reopened.count() == 300

    assert folders(tmp_path) == [current.name]
    reopened.close()
