from __future__ import annotations

import io
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import psycopg
import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection
from django.test import override_settings

from memories.models import Memory, VectorStatus
from tests_support.factories import statuses, stored
from tests_support.waiting import wait_until
from vectors import backend
from vectors.backend import embedder, embedding_model_name, get_vector_store, reset_vector_store, vector_collection_name
from vectors.services.indexing import memories_index
from vectors.services.maintenance import MAINTENANCE_LOCK_KEY
from vectors.stores.base import VectorStore, VectorStoreError
from vectors.stores.edge import EdgeStore

pytestmark = pytest.mark.django_db


def run(name: str, *args: str) -> tuple[str, str]:
    out, err = io.StringIO(), io.StringIO()
    call_command(name, *args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def test_reindex_indexes_everything_with_a_progress_bar_and_a_summary(vector_store: VectorStore):
    stored("One.", "Two.", "Three.", tenant="a")
    stored("Four.", tenant="b")

    out, err = run("reindex", "--batch-size", "2")

    assert out.startswith("Reindexed all memories: 4 indexed, 0 failed, 0 gone meanwhile, 4 embedded")
    assert "reindex: 100%" in err and "4/4" in err
    assert set(statuses().values()) == {"indexed"}
    assert vector_store.count() == 4


def test_reindex_narrows_to_a_tenant_a_namespace_or_the_dirty(vector_store: VectorStore):
    stored("A default.", tenant="a")
    stored("A other.", tenant="a", namespace="other")
    clean = stored("B indexed.", tenant="b")[0]
    memories_index(ids=[clean.pk])
    stored("B pending.", tenant="b")

    run("reindex", "--tenant", "a", "--namespace", "other")
    assert statuses() == {
        "A default.": "pending",
        "A other.": "indexed",
        "B indexed.": "indexed",
        "B pending.": "pending",
    }

    out, _ = run("reindex", "--dirty")
    assert out.startswith("Reindexed dirty only: 2 indexed")
    assert set(statuses().values()) == {"indexed"}


@pytest.mark.parametrize(
    "recorded",
    [
        "all-MiniLM-L6-v2",  # before 1.1 the model's name only: here, the float model's
        "soma_all-minilm-l6-v2_384_layout3",  # the float model's collection (SOMA_EMBEDDING_QUANTIZE=false)
        "soma_all-minilm-l6-v2-qint8_384_layout2",  # this model in 1.1's layout (no scope field, float32)
    ],
)
def test_reindex_dirty_rebuilds_memories_indexed_into_another_collection(vector_store: VectorStore, recorded: str):
    # After a change of model or layout the old vectors live in another collection: those
    # memories count as dirty, so the sweep and --dirty rebuild them.
    current, older = stored("Indexed now.", "Indexed elsewhere.")
    memories_index(ids=[current.pk, older.pk])
    Memory.objects.filter(pk=older.pk).update(vector_model=recorded)

    out, _ = run("reindex", "--dirty")

    assert out.startswith("Reindexed dirty only: 1 indexed")
    assert set(Memory.objects.values_list("vector_model", flat=True)) == {vector_store.collection_name}
    assert vector_store.collection_name == vector_collection_name()
    assert vector_store.count() == 2


def test_reindex_dry_run_counts_and_writes_nothing(vector_store: VectorStore):
    stored("One.", "Two.")

    out, _ = run("reindex", "--dirty", "--dry-run")

    assert out.strip() == "Dry run: would index 2 memories (dirty only)."
    assert set(statuses().values()) == {"pending"}
    assert vector_store.count() == 0


def test_reindex_recreate_drops_orphans_and_rebuilds(vector_store: VectorStore):
    kept, gone = stored("Kept.", "Gone.")
    memories_index(ids=[kept.pk, gone.pk])
    Memory.objects.filter(pk=gone.pk)._raw_delete(connection.alias)

    run("reindex", "--recreate")

    assert list(vector_store.iter_ids()) == [str(kept.pk)]


def test_reindex_refuses_recreate_with_a_scope(vector_store: VectorStore):
    with pytest.raises(CommandError, match="cannot be combined"):
        run("reindex", "--recreate", "--tenant", "a")


def test_reindex_exits_non_zero_when_memories_fail(vector_store: VectorStore, tmp_path: Path):
    stored("One.")

    with override_settings(SOMA_EMBEDDING_MODEL_DIR=str(tmp_path)), pytest.raises(CommandError) as failure:
        run("reindex")

    assert str(failure.value).startswith("Reindexed all memories: 0 indexed, 1 failed")
    assert "First error: embedding model file not found" in str(failure.value)
    assert set(statuses().values()) == {"failed"}


def test_reindex_with_the_store_down_fails_before_writing(store_down: Callable[[], VectorStore]):
    stored("One.")
    store_down()

    with pytest.raises(CommandError, match=r"The vector store is unavailable: .*Connection refused"):
        run("reindex")

    assert set(statuses().values()) == {"pending"}


def test_a_second_reindex_waits_for_none_and_fails(vector_store: VectorStore):
    stored("One.")
    db = connection.settings_dict
    other = psycopg.connect(
        dbname=db["NAME"], user=db["USER"], password=db["PASSWORD"], host=db["HOST"], port=db["PORT"], autocommit=True
    )
    try:
        other.execute("SELECT pg_advisory_lock(%s)", [MAINTENANCE_LOCK_KEY])

        with pytest.raises(CommandError, match="another reindex is running"):
            run("reindex")
        with pytest.raises(CommandError, match="another reindex is running"):
            run("vectors_check", "--fix")
    finally:
        other.close()
    assert set(statuses().values()) == {"pending"}


def test_a_locked_embedded_store_gives_a_clear_error(tmp_path: Path, vector_store: VectorStore):
    # Given a running server holding the embedded store's folder
    holder = EdgeStore(tmp_path / "data" / "qdrant", model_name=embedding_model_name())
    holder.ensure_collection()
    reset_vector_store(None)
    try:
        with override_settings(SOMA_VECTOR_STORE="edge", SOMA_DATA_DIR=tmp_path / "data"):
            # When reindex and vectors_check try to open it, they say what to do
            for command in ("reindex", "vectors_check"):
                with pytest.raises(
                    CommandError, match=r"locked by a running server or another command.*Stop the server.*QDRANT_URL"
                ):
                    run(command)
    finally:
        holder.close()
        reset_vector_store(None)


def test_a_store_unavailable_at_first_use_is_asked_again_later(
    tmp_path: Path, settings: Any, monkeypatch: pytest.MonkeyPatch
):
    # Given a process whose store cannot open when first needed (Qdrant down, a locked folder)
    settings.SOMA_VECTOR_STORE, settings.SOMA_DATA_DIR = "edge", tmp_path
    holder = EdgeStore(tmp_path / "qdrant", model_name=embedding_model_name())
    holder.ensure_collection()
    reset_vector_store(None)
    try:
        with pytest.raises(VectorStoreError, match="locked by another process"):
            get_vector_store()
        # Within the retry interval it answers the same error without asking the store again
        with pytest.raises(VectorStoreError, match="locked by another process"):
            get_vector_store()
    finally:
        holder.close()
    # When the interval has passed and the store answers, the process gets a working store
    monkeypatch.setattr(backend, "_next_ensure", 0.0)
    try:
        store = get_vector_store()
        assert store.count() == 0
        assert get_vector_store() is store
    finally:
        reset_vector_store(None)


def test_vectors_check_reports_no_drift(vector_store: VectorStore):
    memories_index(ids=[memory.pk for memory in stored("One.", "Two.")])

    out, _ = run("vectors_check")

    assert "No drift" in out
    assert "default                          2         2        0        0" in out


def test_vectors_check_finds_drift_and_exits_non_zero(vector_store: VectorStore):
    indexed, gone = stored("Indexed.", "Gone.")
    pending = stored("Pending.")[0]
    memories_index(ids=[indexed.pk, gone.pk])
    Memory.objects.filter(pk=gone.pk)._raw_delete(connection.alias)
    out = io.StringIO()

    with pytest.raises(CommandError, match="Drift: 1 memories missing from the vector store, 1 orphan points"):
        call_command("vectors_check", stdout=out)

    assert f"missing: {pending.pk}" in out.getvalue()
    assert f"orphan: {gone.pk}" in out.getvalue()
    assert vector_store.count() == 2
    assert Memory.objects.get(pk=pending.pk).vector_status == VectorStatus.PENDING


def test_vectors_check_fix_repairs_both_directions(vector_store: VectorStore):
    indexed, gone = stored("Indexed.", "Gone.")
    pending = stored("Pending.")[0]
    memories_index(ids=[indexed.pk, gone.pk])
    Memory.objects.filter(pk=gone.pk)._raw_delete(connection.alias)
    vector_store.delete([str(uuid.uuid4())])  # deleting an unknown id is harmless

    out, _ = run("vectors_check", "--fix")

    assert "Fixed: 1 memories indexed, 1 orphan points deleted; no drift left." in out
    assert sorted(vector_store.iter_ids()) == sorted([str(indexed.pk), str(pending.pk)])
    assert "No drift" in run("vectors_check")[0]


def test_vectors_check_with_the_store_down_fails_clearly(store_down: Callable[[], VectorStore]):
    store_down()

    with pytest.raises(CommandError, match="The vector store is unavailable"):
        run("vectors_check")


def test_the_sweeper_thread_repairs_dirty_memories(vector_store: VectorStore, transactional_db: Any):
    from vectors.sweeper import Sweeper

    # Given a memory left failed (committed: the sweeper thread has its own connection)
    memory = stored("Swept.")[0]
    Memory.objects.filter(pk=memory.pk).update(vector_status=VectorStatus.FAILED, vector_error="boom")
    vector_store.delete([str(memory.pk)])

    # When the sweeper runs
    sweeper = Sweeper(interval=0.05).start()
    try:
        wait_until(
            lambda: Memory.objects.get(pk=memory.pk).vector_status == VectorStatus.INDEXED,
            timeout=10,
            what="the sweeper indexing the failed memory",
        )
    finally:
        sweeper.stop()

    # Then it is indexed again
    assert statuses() == {"Swept.": "indexed"}
    assert list(vector_store.iter_ids()) == [str(memory.pk)]


def test_vectors_optimize_builds_the_index_offline_and_search_still_works(tmp_path: Path, settings: Any):
    settings.SOMA_DATA_DIR = tmp_path
    settings.SOMA_VECTOR_STORE = "edge"
    reset_vector_store(None)
    get_vector_store()  # the store a server on these settings opens (the model's collection)
    memories = stored("The cat sleeps on the sofa.", "Quarterly revenue grew by ten percent.")
    memories_index(ids=[memory.pk for memory in memories])
    reset_vector_store(None)  # the "server" stops, releasing the folder

    out, err = run("vectors_optimize")

    assert out.startswith("Vector index built in ")
    assert "points 2" in out
    assert "building the index of 2 points" in err
    reopened = get_vector_store()
    try:
        vector = embedder().embed(["a kitten napping on a couch"])[0]
        hits = reopened.search(vector, tenant="default", limit=1)
        assert [hit_id for hit_id, _ in hits] == [str(memories[0].pk)]
    finally:
        reset_vector_store(None)


def test_vectors_optimize_refuses_while_a_server_holds_the_store(tmp_path: Path, settings: Any):
    settings.SOMA_DATA_DIR = tmp_path
    settings.SOMA_VECTOR_STORE = "edge"
    server_store = EdgeStore(tmp_path / "qdrant", model_name=embedding_model_name())
    server_store.ensure_collection()
    try:
        # server_store is not the process's store, so the command cannot close it: it holds the
        # folder exactly as a running server's process would.
        with pytest.raises(CommandError, match="locked by a running server"):
            call_command("vectors_optimize", stdout=io.StringIO(), stderr=io.StringIO())
    finally:
        server_store.close()


def test_vectors_optimize_is_for_the_embedded_engine_only(settings: Any):
    settings.SOMA_VECTOR_STORE = "qdrant"
    with pytest.raises(CommandError, match="Only the embedded engine"):
        call_command("vectors_optimize", stdout=io.StringIO(), stderr=io.StringIO())
