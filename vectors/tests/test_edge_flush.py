"""The embedded engine's flush windows: what a flush records, what a reopened store may have lost."""

from __future__ import annotations

import json
import shutil
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from memories.models import Memory, VectorStatus
from memories.services.create import MemoryDraft, memory_batch_upsert
from vectors.backend import embedding_model_name, reset_vector_store
from vectors.services import memories_index, memories_reindex, points_recover
from vectors.stores import EdgeStore, VectorPoint
from vectors.tests.conftest import install

MODEL = "flush-test"


def point(n: int) -> VectorPoint:
    vector = [0.0] * 384
    vector[n % 384] = 1.0
    return VectorPoint(str(uuid.UUID(int=n + 1)), vector, "acme", "default", "episodic", 0.0)


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

    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and not (tmp_path / f"{store.collection_name}.flushed.json").exists():
        time.sleep(0.02)

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


# --- with PostgreSQL: the memories of the lost windows are found and indexed again ---------------


@pytest.fixture
def own_stores() -> Iterator[None]:
    yield
    reset_vector_store(None)  # the next test gets the store the settings name


@pytest.mark.django_db
@pytest.mark.usefixtures("own_stores")
def test_memories_indexed_after_the_last_flush_are_recovered_and_reindexed(tmp_path: Path) -> None:
    root = tmp_path / "qdrant"
    model = embedding_model_name()
    store = install(EdgeStore(root, model_name=model, flush_interval=3600))
    drafts = [MemoryDraft(payload={"content": f"memory number {n}"}) for n in range(4)]
    ids = [result.memory_id for result in memory_batch_upsert(tenant="default", drafts=drafts)]
    memories_index(ids=ids[:2])
    store.close()  # flushed: these two are durable
    shutil.copytree(root, tmp_path / "backup")
    store = install(EdgeStore(root, model_name=model, flush_interval=3600))
    memories_index(ids=ids[2:])
    windows = dict(Memory.objects.values_list("id", "vector_epoch"))
    store.close()
    shutil.rmtree(root)
    shutil.copytree(tmp_path / "backup", root)  # as if the last two never reached the disk
    store = install(EdgeStore(root, model_name=model, flush_interval=3600))
    assert store.count() == 2
    assert all(windows[i] > 0 for i in ids)

    # When the store opens, the memories written after its last flush are pending again
    assert points_recover() == 2
    assert points_recover() == 0  # idempotent
    statuses = dict(Memory.objects.values_list("id", "vector_status"))
    assert [statuses[i] for i in ids] == [VectorStatus.INDEXED] * 2 + [VectorStatus.PENDING] * 2

    # And the sweep puts them back in the store
    summary = memories_reindex(dirty=True)
    assert (summary.indexed, summary.failed) == (2, 0)
    assert store.count() == 4
    assert set(Memory.objects.values_list("vector_status", flat=True)) == {VectorStatus.INDEXED}
    store.close()
