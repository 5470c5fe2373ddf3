from __future__ import annotations

import json
from typing import Any

import pytest
from django.contrib.auth.models import Permission, User
from django.test import Client

from graph.models import Link
from graph.selectors.nodes import MemoryRef
from graph.services import link_upsert
from memories.models import Memory

pytestmark = pytest.mark.django_db

CHANGELIST = "/admin/memories/memory/"


def act(client: Client, action: str, memories: list[Memory], **extra: str) -> Any:
    return client.post(CHANGELIST, {"action": action, "_selected_action": [str(m.pk) for m in memories], **extra})


def test_export_streams_one_json_object_per_memory(curator_client: Client, make_memory: Any) -> None:
    # Given two memories (and one not selected)
    first = make_memory({"content": "first", "n": 1}, coord="1,2", metadata={"src": "a"}, importance=0.5)
    second = make_memory({"content": "zweite — ünïcode"}, namespace="other", memory_type="semantic")
    make_memory({"content": "not selected"})
    # When they are exported
    response = act(curator_client, "export_jsonl", [second, first])
    # Then the download holds exactly their lines, oldest first
    assert response.status_code == 200
    assert response.streaming
    assert response["Content-Type"] == "application/x-ndjson"
    assert response["Content-Disposition"].startswith('attachment; filename="memories-')
    body = b"".join(response.streaming_content).decode()
    assert body.endswith("\n")
    assert [json.loads(line) for line in body.splitlines()] == [
        {
            "id": str(first.pk),
            "coord": "1.0,2.0",
            "namespace": "default",
            "memory_type": "episodic",
            "payload": {"content": "first", "n": 1},
            "text": "first",
            "metadata": {"src": "a"},
            "importance": 0.5,
            "created_at": first.created_at.isoformat(),
        },
        {
            "id": str(second.pk),
            "coord": None,
            "namespace": "other",
            "memory_type": "semantic",
            "payload": {"content": "zweite — ünïcode"},
            "text": "zweite — ünïcode",
            "metadata": {},
            "importance": 0.0,
            "created_at": second.created_at.isoformat(),
        },
    ]
    assert "ünïcode" in body  # written as UTF-8, not \\u escapes


def test_delete_asks_for_confirmation_then_removes_memories_and_their_links(
    admin_client_super: Client, make_memory: Any
) -> None:
    # Given a -> b -> c
    a, b, c = (make_memory({"content": name}, coord=str(i)) for i, name in enumerate("abc"))
    for source, target in ((a, b), (b, c)):
        link_upsert(tenant="acme", source=MemoryRef(id=source.pk), target=MemoryRef(id=target.pk))
    # When a and b are selected for deletion, the confirmation page comes first and nothing is gone
    response = act(admin_client_super, "delete_selected", [a, b])
    assert response.status_code == 200
    assert "admin/delete_selected_confirmation.html" in response.template_name
    assert Memory.objects.count() == 3
    # When the deletion is confirmed
    response = act(admin_client_super, "delete_selected", [a, b], post="yes")
    # Then both memories and every link touching them are gone
    assert response.status_code == 302
    assert list(Memory.objects.values_list("pk", flat=True)) == [c.pk]
    assert not Link.objects.exists()


def test_staff_without_delete_right_has_no_delete_action(make_memory: Any) -> None:
    # Given a staff user who may only view and change memories (not a curator)
    user = User.objects.create_user("viewer", password="viewer-password-1", is_staff=True)
    user.user_permissions.add(*Permission.objects.filter(codename__in=["view_memory", "change_memory"]))
    client = Client()
    client.force_login(user)
    memory = make_memory({"content": "stay"})
    # When they try the delete action, then nothing is deleted and the action is not offered
    response = act(client, "delete_selected", [memory], post="yes")
    assert response.status_code == 302
    assert Memory.objects.filter(pk=memory.pk).exists()
    response = client.get(CHANGELIST)
    actions = [name for name, _ in response.context["action_form"].fields["action"].choices]
    assert actions == ["", "reembed_selected", "export_jsonl"]


def test_curator_can_prune(curator_client: Client, make_memory: Any) -> None:
    memory = make_memory({"content": "prune me"})
    response = act(curator_client, "delete_selected", [memory], post="yes")
    assert response.status_code == 302
    assert not Memory.objects.exists()


def test_re_embed_marks_selected_memories_indexed(curator_client: Client, make_memory: Any) -> None:
    # Given two pending memories and one not selected
    chosen = [make_memory({"content": "alpha"}), make_memory({"content": "beta"})]
    other = make_memory({"content": "gamma"})
    # When they are re-embedded
    response = act(curator_client, "reembed_selected", chosen)
    # Then they are indexed now, the other one untouched, and the curator is told
    assert response.status_code == 302
    statuses = dict(Memory.objects.values_list("pk", "vector_status"))
    assert statuses == {chosen[0].pk: "indexed", chosen[1].pk: "indexed", other.pk: "pending"}
    messages = [str(m) for m in response.wsgi_request._messages]
    assert messages == ["Re-embedded 2 memories."]


def test_re_embed_with_the_vector_store_down_reports_the_failure(
    curator_client: Client, make_memory: Any, qdrant_down: Any
) -> None:
    memory = make_memory({"content": "alpha"})
    response = act(curator_client, "reembed_selected", [memory])
    assert response.status_code == 302
    [message] = list(response.wsgi_request._messages)
    assert message.level_tag == "error"
    assert str(message).startswith("Re-embedded 0 memories; 1 failed (")
    stored = Memory.objects.get(pk=memory.pk)
    assert stored.vector_status == "failed"
    assert stored.vector_error != ""


def test_index_panel_counts_per_tenant_and_type_and_dirty_vectors(curator_client: Client, make_memory: Any) -> None:
    make_memory({"content": "a"}, tenant="acme")
    make_memory({"content": "b"}, tenant="acme", memory_type="semantic")
    failed = make_memory({"content": "c"}, tenant="globex")
    indexed = make_memory({"content": "d"}, tenant="globex")
    Memory.objects.filter(pk=failed.pk).update(vector_status="failed")
    Memory.objects.filter(pk=indexed.pk).update(vector_status="indexed")
    response = curator_client.get("/admin/")
    html = response.content.decode()
    assert response.status_code == 200
    assert [(t.tenant, t.episodic, t.semantic, t.total) for t in response.context["summary"].tenants] == [
        ("acme", 1, 1, 2),
        ("globex", 2, 0, 2),
    ]
    assert '<td id="console-pending" class="console-num">2</td>' in html
    assert '<td id="console-failed" class="console-num">1</td>' in html
    assert 'value="Reindex dirty vectors"' in html


def test_reindex_button_indexes_the_dirty_memories(curator_client: Client, make_memory: Any) -> None:
    # Given three memories waiting for their vectors
    memories = [make_memory({"content": f"memory {i}"}) for i in range(3)]
    Memory.objects.filter(pk=memories[0].pk).update(vector_status="failed", vector_error="embedder down")
    # When the panel's button is pressed
    response = curator_client.post(f"{CHANGELIST}reindex-dirty/", {"next": "/admin/"})
    # Then all are indexed and the curator is told how many remain
    assert response.status_code == 302
    assert response["Location"] == "/admin/"
    assert set(Memory.objects.values_list("vector_status", flat=True)) == {"indexed"}
    messages = [str(m) for m in response.wsgi_request._messages]
    assert messages == ["Re-indexed 3 of 3 dirty memories (0 failed); 0 still pending or failed."]


def test_reindex_refuses_get_and_view_only_staff(client: Client, django_user_model: Any, make_memory: Any) -> None:
    memory = make_memory({"content": "x"})
    viewer = django_user_model.objects.create_user("viewer", password="viewer-password-1", is_staff=True)
    viewer.user_permissions.add(Permission.objects.get(codename="view_memory"))
    client.force_login(viewer)
    assert client.get(f"{CHANGELIST}reindex-dirty/").status_code == 405
    assert client.post(f"{CHANGELIST}reindex-dirty/").status_code == 403
    assert Memory.objects.get(pk=memory.pk).vector_status == "pending"
    assert b"Reindex dirty vectors" not in client.get("/admin/").content


def test_reindex_ignores_an_offsite_next(curator_client: Client) -> None:
    response = curator_client.post(f"{CHANGELIST}reindex-dirty/", {"next": "https://evil.example/"})
    assert response["Location"] == "/admin/"
