"""The embedded engine's flush windows: what a flush records, what a reopened store may have lost."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from tests_support.factories import point
from tests_support.waiting import wait_until
from vectors.stores.edge import EdgeStore

MODEL = "flush-test"


def recorded(store: EdgeStore) -> int:
    return int(json.loads((store.root / f"{store.collection_name}.flushed.json").read_text())["durable_window"])


def test_writes_are_durable_at_once_without_a_flush_interval(tmp_path: Path) -> None:
    store = EdgeStore(tmp_path, model_name=MODEL, flush_interval=0)

    assert store.upsert([point(1)]) == 0
    assert not (tmp_path / f"{store.collection_name}.flushed.json").exists()
    store.close()


def test_a_flush_records_the_window_of_the_writes_before_it(tmp_path: Path) -> None:
    store = EdgeStore(tmp_path, model_name=MODEL, flush_interval=3600)
    first = store.upsert([point(1)])
    assert store.upsert([point(2)]) == first  # same window until a flush

    store.flush()

    assert recorded(store) == first
    later = store.upsert([point(3)])
    assert later > first
    store.flush()
    store.flush()  # nothing written since: records nothing new
    assert recorded(store) == later
    store.close()


def test_the_flusher_thread_flushes_on_its_interval(tmp_path: Path) -> None:
    store = EdgeStore(tmp_path, model_name=MODEL, flush_interval=0.05)
    window = store.upsert([point(1)])

    wait_until(
        (tmp_path / f"{store.collection_name}.flushed.json").exists,
        timeout=5,
        interval=0.02,
        what="the flusher thread recording a flush",
    )

    assert recorded(store) == window
    store.close()


def test_a_clean_close_loses_nothing(tmp_path: Path) -> None:
    store = EdgeStore(tmp_path, model_name=MODEL, flush_interval=3600)
    window = store.upsert([point(1)])
    store.close()

    reopened = EdgeStore(tmp_path, model_name=MODEL, flush_interval=3600)
    reopened.ensure_collection()

    durable, first = reopened.lost_windows
    assert durable == window and first > window  # no window in between: nothing to recover
    assert reopened.count() == 1
    reopened.close()


def test_a_folder_copied_before_the_last_flush_names_the_windows_it_lacks(tmp_path: Path) -> None:
    root = tmp_path / "qdrant"
    store = EdgeStore(root, model_name=MODEL, flush_interval=3600)
    kept = store.upsert([point(1)])
    store.close()
    shutil.copytree(root, tmp_path / "backup")
    store = EdgeStore(root, model_name=MODEL, flush_interval=3600)
    lost = store.upsert([point(2)])
    store.close()
    shutil.rmtree(root)
    shutil.copytree(tmp_path / "backup", root)

    restored = EdgeStore(root, model_name=MODEL, flush_interval=3600)
    restored.ensure_collection()

    durable, first = restored.lost_windows
    assert durable == kept < lost < first
    assert restored.count() == 1
    restored.close()
