"""History and restore over HTTP: versions, actors, changed fields, tenants, retention."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

import pytest
from django.core.management import call_command
from django.db import connection
from django.utils import timezone

from accounts.services import api_key_create
from graph.models import Link
from memories.history import TRACKED_FIELDS
from memories.history_services import history_prune
from memories.models import IdempotencyKey, Memory, MemoryVersion

pytestmark = pytest.mark.django_db

ALL = list(TRACKED_FIELDS)


def state() -> tuple[list[Any], list[Any]]:
    memories = sorted(
        Memory.objects.values_list("id", "tenant", "namespace", "coord_key", "payload", "text", "importance", "version")
    )
    versions = sorted(MemoryVersion.objects.values_list("memory_id", "version", "event", "actor", "snapshot"))
    return memories, versions


def history(client: Any, ref: str, **params: Any) -> list[dict[str, Any]]:
    response = client.get(f"/memories/{ref}/history", params)
    assert response.status_code == 200, response.content
    return response.json()["items"]


def summary(items: list[dict[str, Any]]) -> list[tuple[int, str, str, list[str]]]:
    return [(item["version"], item["event"], item["actor"], item["changed"]) for item in items]


def test_create_patch_patch_delete_restore_is_five_versions(api, api_for):
    writer = api_for(token=api_key_create(tenant="default", name="writer").token)
    created = api.post("/memories", {"coord": "1,2", "payload": {"content": "first"}, "metadata": {"m": 1}}).json()
    memory_id = created["memory"]["id"]
    assert created["memory"]["version"] == 1

    assert writer.patch("/memories/1,2", {"payload": {"content": "second"}}).json()["memory"]["version"] == 2
    assert api.patch(f"/memories/{memory_id}", {"importance": 0.5}).json()["memory"]["version"] == 3
    assert api.delete("/memories/1,2").json()["deleted"] is True
    restored = writer.post(f"/memories/{memory_id}/restore", {})

    assert restored.status_code == 200, restored.content
    body = restored.json()
    assert body["restored_version"] == 3
    assert body["memory"]["id"] == memory_id
    assert body["memory"]["coord"] == "1.0,2.0"
    assert body["memory"]["payload"] == {"content": "second"}
    assert body["memory"]["text"] == "second"
    assert body["memory"]["importance"] == 0.5
    assert body["memory"]["metadata"] == {"m": 1}
    assert body["memory"]["created_at"] == created["memory"]["created_at"]
    assert body["memory"]["version"] == 5
    assert body["memory"]["vector_status"] == "pending"
    items = history(api, memory_id)
    assert summary(items) == [
        (5, "restored", "key:writer", ALL),
        (4, "deleted", "master", ALL),
        (3, "updated", "master", ["importance"]),
        (2, "updated", "key:writer", ["payload", "text"]),
        (1, "created", "master", ALL),
    ]
    assert [item["memory"]["payload"] for item in items] == [{"content": "second"}] * 4 + [{"content": "first"}]
    assert [item["memory"]["version"] for item in items] == [5, 4, 3, 2, 1]
    assert items[0]["at"] >= items[1]["at"] >= items[4]["at"]
    # the coordinate reaches the same history once the memory is back
    assert summary(history(api, "1,2")) == summary(items)


def test_replacing_a_coordinate_is_an_update_with_the_changed_fields(api):
    first = api.post("/memories", {"coord": "3,3", "payload": {"content": "a"}}).json()["memory"]
    api.post("/memories", {"coord": "3.0,3.0", "payload": {"content": "a"}, "memory_type": "semantic"})
    api.post("/memories", {"coord": "3,3", "payload": {"content": "a"}, "memory_type": "semantic"})

    assert summary(history(api, first["id"])) == [
        (3, "updated", "master", []),
        (2, "updated", "master", ["memory_type"]),
        (1, "created", "master", ALL),
    ]
    assert Memory.objects.get().version == 3


def test_storing_at_a_bare_node_is_a_creation_with_every_field_changed(api):
    # given a coordinate that is only a graph node (linked before any memory was stored there)
    api.post("/graph/link", {"from_coord": "4,4", "to_coord": "5,5", "link_type": "co_recalled"})
    node = Memory.with_nodes.get(coord_key="4.0,4.0")

    # when a memory is stored there
    stored = api.post("/memories", {"coord": "4,4", "payload": {"content": "filled"}}).json()["memory"]

    # then it keeps the node's id, and its first version is a creation, not an update of the node
    assert stored["id"] == str(node.pk)
    assert summary(history(api, stored["id"])) == [(1, "created", "master", ALL)]


def test_batch_records_one_version_per_memory(api):
    response = api.post(
        "/memories/batch",
        {"memories": [{"coord": "1,1", "payload": {"content": "x"}}, {"payload": {"content": "y"}}]},
    )

    assert response.status_code == 200
    ids = [item["id"] for item in response.json()["memories"]]
    for memory_id in ids:
        assert summary(history(api, memory_id)) == [(1, "created", "master", ALL)]
    api.post("/memories/batch", {"memories": [{"coord": "1,1", "payload": {"content": "z"}}]})
    assert summary(history(api, ids[0]))[0] == (2, "updated", "master", ["payload", "text"])
    assert history(api, ids[0])[0]["memory"]["payload"] == {"content": "z"}


def test_history_pages_newest_first_with_a_cursor(api):
    memory_id = api.post("/memories", {"payload": {"content": "v1"}}).json()["memory"]["id"]
    for n in range(2, 8):
        api.patch(f"/memories/{memory_id}", {"payload": {"content": f"v{n}"}})

    first = api.get(f"/memories/{memory_id}/history", {"limit": 3}).json()
    second = api.get(f"/memories/{memory_id}/history", {"limit": 3, "cursor": first["next_cursor"]}).json()
    third = api.get(f"/memories/{memory_id}/history", {"limit": 3, "cursor": second["next_cursor"]}).json()

    assert [item["version"] for item in first["items"]] == [7, 6, 5]
    assert [item["version"] for item in second["items"]] == [4, 3, 2]
    assert [item["version"] for item in third["items"]] == [1]
    assert third["next_cursor"] is None
    bad = api.get(f"/memories/{memory_id}/history", {"cursor": "bm90LWEtY3Vyc29y"})
    assert (bad.status_code, bad.json()["code"]) == (400, "invalid_cursor")


def test_restore_of_a_live_memory_goes_back_one_version_by_default(api):
    memory_id = api.post("/memories", {"payload": {"content": "one"}}).json()["memory"]["id"]
    api.patch(f"/memories/{memory_id}", {"payload": {"content": "two"}})
    api.patch(f"/memories/{memory_id}", {"payload": {"content": "three"}, "metadata": {"k": 1}})

    back = api.post(f"/memories/{memory_id}/restore", {}).json()
    assert (back["restored_version"], back["memory"]["text"], back["memory"]["metadata"]) == (2, "two", {})
    oldest = api.post(f"/memories/{memory_id}/restore", {"version": 1}).json()

    assert (oldest["restored_version"], oldest["memory"]["text"], oldest["memory"]["version"]) == (1, "one", 5)
    assert summary(history(api, memory_id))[:2] == [
        (5, "restored", "master", ["payload", "text"]),
        (4, "restored", "master", ["payload", "text", "metadata"]),
    ]


def test_restore_without_a_body_and_of_a_version_never_kept(api):
    memory_id = api.post("/memories", {"payload": {"content": "only"}}).json()["memory"]["id"]
    before = state()

    no_earlier = api.post(f"/memories/{memory_id}/restore", raw=b"")
    not_json = api.post(f"/memories/{memory_id}/restore", raw=b"{version")
    unknown = api.post(f"/memories/{memory_id}/restore", {"version": 9})
    not_an_id = api.post("/memories/1,2/restore", {})
    bad_version = api.post(f"/memories/{memory_id}/restore", {"version": 0})

    assert (no_earlier.status_code, no_earlier.json()["code"]) == (404, "version_not_found")
    assert (unknown.status_code, unknown.json()["code"]) == (404, "version_not_found")
    assert (not_json.status_code, not_json.json()["code"]) == (400, "invalid_json")
    assert (not_an_id.status_code, not_an_id.json()["code"]) == (400, "invalid_reference")
    assert (bad_version.status_code, bad_version.json()["code"]) == (422, "validation_error")
    assert state() == before


def test_restore_into_a_taken_coordinate_is_a_conflict_and_changes_nothing(api):
    old = api.post("/memories", {"coord": "4,4", "payload": {"content": "old"}}).json()["memory"]
    api.delete("/memories/4,4")
    newer = api.post("/memories", {"coord": "4,4", "payload": {"content": "newer"}}).json()["memory"]
    before = state()

    response = api.post(f"/memories/{old['id']}/restore", {})

    assert response.status_code == 409
    assert response.json() == {
        "detail": f"Coordinate 4.0,4.0 is held by memory {newer['id']} now; delete or move it before restoring this memory.",
        "code": "coordinate_taken",
    }
    assert state() == before


def test_restore_brings_back_links_whose_other_end_exists(api, make_memory):
    a, b, c = make_memory("a"), make_memory("b"), make_memory("c")
    Link.objects.create(tenant="default", source=a, target=b, link_type="cites", strength=0.5, metadata={"w": 1})
    Link.objects.create(tenant="default", source=c, target=a)
    Link.objects.create(tenant="default", source=b, target=c)
    api.delete(f"/memories/{a.pk}")
    api.delete(f"/memories/{c.pk}")
    assert list(Link.objects.values_list("source_id", "target_id")) == []

    assert api.post(f"/memories/{a.pk}/restore", {}).status_code == 200

    assert list(Link.objects.values_list("source_id", "target_id", "link_type", "strength", "metadata")) == [
        (a.pk, b.pk, "cites", 0.5, {"w": 1})
    ]
    # c -> a was kept with a's removal, and c was gone when a came back: that link stays gone.
    assert api.post(f"/memories/{c.pk}/restore", {}).status_code == 200
    assert sorted(Link.objects.values_list("source_id", "target_id")) == sorted([(a.pk, b.pk), (b.pk, c.pk)])


def test_restore_at_a_coordinate_the_graph_linked_meanwhile_takes_the_bare_node_and_its_links(api):
    """Linking a free coordinate makes a bare node there; restoring the memory that stood there
    used to be a 409 coordinate_taken that no delete could clear."""
    old = api.post("/memories", {"coord": "3,3", "namespace": "n", "payload": {"content": "A"}}).json()["memory"]
    api.delete(f"/memories/{old['id']}")
    assert api.post("/graph/link", {"from_coord": "3,3", "to_coord": "4,4", "namespace": "n"}).status_code == 200
    far_end = Memory.with_nodes.get(namespace="n", coord_key="4.0,4.0").pk

    response = api.post(f"/memories/{old['id']}/restore", {})

    assert response.status_code == 200, response.content
    assert response.json()["memory"]["id"] == old["id"]
    assert api.get("/memories/3,3", {"namespace": "n"}).json()["memory"]["id"] == old["id"]
    assert list(Link.objects.values_list("source_id", "target_id")) == [(uuid.UUID(old["id"]), far_end)]
    assert Memory.with_nodes.filter(namespace="n", coord_key="3.0,3.0").count() == 1


def test_restore_brings_back_a_link_to_a_bare_coordinate(api, make_memory):
    a, b = make_memory("a"), make_memory("b")
    assert api.post("/graph/link", {"from_id": str(a.pk), "to_id": str(b.pk)}).status_code == 200
    assert api.post("/graph/link", {"from_id": str(a.pk), "to_coord": "9,9"}).status_code == 200
    bare = Memory.with_nodes.get(coord_key="9.0,9.0", bare_node=True).pk
    api.delete(f"/memories/{a.pk}")

    assert api.post(f"/memories/{a.pk}/restore", {}).status_code == 200

    assert sorted(Link.objects.values_list("source_id", "target_id")) == sorted([(a.pk, b.pk), (a.pk, bare)])


def test_another_tenant_sees_neither_history_nor_tombstones(api_for):
    alice, bob = api_for("alice"), api_for("bob")
    live = alice.post("/memories", {"coord": "5,5", "payload": {"content": "alive"}}).json()["memory"]["id"]
    gone = alice.post("/memories", {"payload": {"content": "gone"}}).json()["memory"]["id"]
    alice.delete(f"/memories/{gone}")
    before = state()

    for ref in (live, "5,5", gone):
        response = bob.get(f"/memories/{ref}/history")
        assert (response.status_code, response.json()["code"]) == (404, "memory_not_found"), ref
    for memory_id in (live, gone):
        response = bob.post(f"/memories/{memory_id}/restore", {})
        assert (response.status_code, response.json()["code"]) == (404, "memory_not_found")
    assert state() == before
    assert [item["event"] for item in history(alice, gone)] == ["deleted", "created"]


def test_a_deleted_memory_is_readable_by_id_only_within_retention(api, settings):
    memory_id = api.post("/memories", {"coord": "6,6", "payload": {"content": "x"}}).json()["memory"]["id"]
    api.delete(f"/memories/{memory_id}")
    assert api.get("/memories/6,6/history").status_code == 404  # a coordinate names live memories only
    assert len(history(api, memory_id)) == 2

    MemoryVersion.objects.update(at=timezone.now() - timedelta(days=settings.SOMA_HISTORY_RETENTION_DAYS, seconds=5))
    before = state()

    assert api.get(f"/memories/{memory_id}/history").status_code == 404
    response = api.post(f"/memories/{memory_id}/restore", {})
    assert (response.status_code, response.json()["code"]) == (404, "memory_not_found")
    assert state() == before


def test_prune_drops_old_versions_and_tombstones_but_keeps_a_live_memorys_present(api, settings):
    live = api.post("/memories", {"payload": {"content": "v1"}}).json()["memory"]["id"]
    api.patch(f"/memories/{live}", {"payload": {"content": "v2"}})
    gone = api.post("/memories", {"payload": {"content": "gone"}}).json()["memory"]["id"]
    api.delete(f"/memories/{gone}")
    recent = api.post("/memories", {"payload": {"content": "recent"}}).json()["memory"]["id"]
    old = timezone.now() - timedelta(days=settings.SOMA_HISTORY_RETENTION_DAYS + 1)
    MemoryVersion.objects.exclude(memory_id=recent).update(at=old)
    IdempotencyKey.objects.create(tenant="default", key="k", request_hash="h", created_at=old)
    IdempotencyKey.objects.create(tenant="default", key="fresh", request_hash="h")

    dry = history_prune(dry_run=True)
    assert (dry.versions, dry.tombstones, dry.idempotency_keys) == (3, 1, 1)
    assert MemoryVersion.objects.count() == 5
    done = history_prune(batch_size=2)

    assert (done.versions, done.tombstones, done.idempotency_keys) == (3, 1, 1)
    assert sorted(MemoryVersion.objects.values_list("memory_id", "version")) == sorted(
        [(uuid.UUID(live), 2), (uuid.UUID(recent), 1)]
    )
    assert list(IdempotencyKey.objects.values_list("key", flat=True)) == ["fresh"]
    assert api.get(f"/memories/{gone}/history").status_code == 404
    assert history_prune().versions == 0


def test_prune_history_command_dry_run_and_progress(api, settings, capsys):
    memory_id = api.post("/memories", {"payload": {"content": "v1"}}).json()["memory"]["id"]
    api.patch(f"/memories/{memory_id}", {"payload": {"content": "v2"}})
    MemoryVersion.objects.update(at=timezone.now() - timedelta(days=settings.SOMA_HISTORY_RETENTION_DAYS + 1))

    call_command("prune_history", "--dry-run")
    dry = capsys.readouterr().out
    assert MemoryVersion.objects.count() == 2
    call_command("prune_history")
    done = capsys.readouterr()

    assert "Would prune 1 versions (0 deleted memories), 0 idempotency keys (retention 30 days)." in dry
    assert "prune_history: 100%" in done.err
    assert "1/1" in done.err
    assert "Pruned 1 versions (0 deleted memories), 0 idempotency keys (retention 30 days)" in done.out
    assert MemoryVersion.objects.count() == 1


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("patch", "/memories/7,7", {"importance": 2}),
        ("patch", "/memories/7,7", {"payload": []}),
        ("post", "/memories/batch", {"memories": [{"payload": {"content": "ok"}}, {"payload": "no"}]}),
        ("post", "/memories", {"coord": "1,nan", "payload": {"content": "x"}}),
        ("delete", "/memories/not-a-ref", None),
    ],
)
def test_a_refused_request_writes_no_version(api, method, path, body):
    api.post("/memories", {"coord": "7,7", "payload": {"content": "x"}})
    before = state()

    response = getattr(api, method)(path, body) if body is not None else api.delete(path)

    assert 400 <= response.status_code < 500
    assert state() == before


def test_history_can_be_switched_off(api, settings):
    settings.SOMA_HISTORY = False
    memory_id = api.post("/memories", {"payload": {"content": "x"}}).json()["memory"]["id"]
    api.patch(f"/memories/{memory_id}", {"importance": 0.3})
    api.post("/memories/batch", {"memories": [{"payload": {"content": "y"}}]})

    assert MemoryVersion.objects.count() == 0
    assert Memory.objects.get(pk=memory_id).version == 2
    assert history(api, memory_id) == []


def test_the_create_path_costs_no_query_for_its_history(api, settings, django_assert_num_queries):
    api.post("/memories", {"payload": {"content": "warm up"}})
    with django_assert_num_queries(3) as with_history:  # savepoint, upsert + its version, release
        api.post("/memories", {"payload": {"content": "kept"}})
    settings.SOMA_HISTORY = False
    with django_assert_num_queries(3):
        api.post("/memories", {"payload": {"content": "not kept"}})
    assert "memories_memoryversion" in with_history.captured_queries[1]["sql"]
    assert '"kept"' in with_history.captured_queries[1]["sql"]  # logged with its values


def test_a_single_create_is_planned_once_per_connection(api):
    for n in range(3):
        api.post("/memories", {"payload": {"content": f"v{n}"}})
    api.post("/memories", {"coord": "1,2", "payload": {"content": "at a coordinate"}})

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_prepared_statements WHERE statement LIKE %s",
            ["%ON CONFLICT (tenant, namespace, coord_key)%"],
        )
        (prepared,) = cursor.fetchone()
    # one text, one statement per set of parameter types (no coordinate, a coordinate)
    assert prepared == 2


def test_the_embedded_sweeper_prunes_the_history_once_per_interval(api, settings):
    from vectors.sweeper import Sweeper

    memory_id = api.post("/memories", {"payload": {"content": "v1"}}).json()["memory"]["id"]
    api.patch(f"/memories/{memory_id}", {"payload": {"content": "v2"}})
    old = timezone.now() - timedelta(days=settings.SOMA_HISTORY_RETENTION_DAYS + 1)
    MemoryVersion.objects.update(at=old)
    sweeper = Sweeper(interval=60)

    sweeper.prune_history()
    assert list(MemoryVersion.objects.values_list("version", flat=True)) == [2]
    IdempotencyKey.objects.create(tenant="default", key="k", request_hash="h", created_at=old)
    sweeper.prune_history()  # within the interval: nothing runs
    assert IdempotencyKey.objects.count() == 1


def test_deleting_an_absent_memory_records_nothing(api):
    before = state()
    response = api.delete("/memories/8,8")
    assert (response.status_code, response.json()["deleted"]) == (200, False)
    assert state() == before
