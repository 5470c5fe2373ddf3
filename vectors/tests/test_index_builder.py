"""The embedded server's index builder thread (vectors.index_builder)."""

from __future__ import annotations

import threading
from pathlib import Path

from tests_support.factories import filled, point, quantized_segments
from vectors.index_builder import IndexBuilder, index_once
from vectors.metrics import INDEX_BUILDS
from vectors.tests.conftest import install


def test_index_once_builds_past_the_threshold(tmp_path: Path) -> None:
    store = filled(tmp_path, count=50)
    builds = INDEX_BUILDS._value.get()

    assert not index_once(store, threshold=51)
    assert not quantized_segments(store)
    assert index_once(store, threshold=50)
    assert quantized_segments(store)
    assert INDEX_BUILDS._value.get() == builds + 1
    assert not index_once(store, threshold=1)  # nothing written since
    store.upsert([point(100 + i) for i in range(11)])
    assert not index_once(store, threshold=1)  # 11 new points: under a quarter of the 50 indexed
    store.upsert([point(200)])
    assert index_once(store, threshold=1)
    assert INDEX_BUILDS._value.get() == builds + 2
    store.close()


def test_the_builder_thread_indexes_the_process_store(tmp_path: Path) -> None:
    store = filled(tmp_path / "qdrant", count=60)
    install(store)
    builder = IndexBuilder(threshold=60, interval=0.05).start()
    try:
        for _ in range(600):
            if store.info()["unindexed"] == 0:
                break
            threading.Event().wait(0.05)
    finally:
        builder.stop()
    assert store.info()["unindexed"] == 0
    assert quantized_segments(store)
