from __future__ import annotations

from typing import Any

import pytest
from django.contrib.auth.models import Permission
from django.test import Client

from graph.models import Link
from graph.selectors.nodes import MemoryRef
from graph.services import link_upsert
from memories.models import Memory, MemoryVersion
from memories.services.delete import memory_delete
from memories.services.update import memory_update

pytestmark = pytest.mark.django_db

CHANGELIST = "/admin/memories/memory/"
RECENTLY_DELETED = f"{CHANGELIST}recently-deleted/"


def change_url(memory: Memory) -> str:
    return f"{CHANGELIST}{memory.pk}/change/"


def restore_url(memory: Memory) -> str:
    return f"{CHANGELIST}{memory.pk}/restore-version/"


def messages_of(response: Any) -> list[str]:
    return [str(message) for message in response.wsgi_request._messages]


def versions_of(memory_id: Any) -> list[tuple[int, str, str]]:
    return list(
        MemoryVersion.objects.filter(memory_id=memory_id).order_by("version").values_list("version", "event", "actor")
    )


@pytest.fixture
def edited(make_memory: Any) -> Memory:
    """A memory created, then edited twice: three versions."""
    memory = make_memory({"content": "first words"})
    memory = memory_update(memory=memory, payload={"content": "second words", "mood": "calm"}, actor="key:ci")
    return memory_update(memory=memory, importance=0.9, actor="master")


@pytest.fixture
def viewer_client(django_user_model: Any, curators_group: Any) -> Client:
    viewer = django_user_model.objects.create_user("viewer", password="viewer-password-1", is_staff=True)
    viewer.user_permissions.add(Permission.objects.get(codename="view_memory"))
    client = Client()
    client.force_login(viewer)
    return client


def test_change_page_lists_the_versions_newest_first_with_who_and_what(curator_client: Client, edited: Memory) -> None:
    response = curator_client.get(change_url(edited))
    rows = response.context["versions"].rows
    assert [(r.version.version, r.version.event, r.version.actor) for r in rows] == [
        (3, "updated", "master"),
        (2, "updated", "key:ci"),
        (1, "created", "system"),
    ]
    assert rows[0].version.changed == ["importance"]
    assert rows[1].version.changed == ["payload", "text"]
    assert response.context["versions"].older_than is None
    html = response.content.decode()
    # Every version but the current one can be restored, each from its own form
    assert html.count('value="Restore this version"') == 2
    assert f'action="{restore_url(edited)}"' in html


def test_diff_shows_what_a_version_changed_against_the_one_before(curator_client: Client, edited: Memory) -> None:
    rows = curator_client.get(change_url(edited)).context["versions"].rows
    second = [(line.kind, line.text) for line in rows[1].diff if line.kind in {"add", "remove"}]
    assert second == [
        ("remove", "-  first words"),
        ("add", "+  second words"),
        ("remove", '-    "content": "first words"'),
        ("add", '+    "content": "second words",'),
        ("add", '+    "mood": "calm"'),
    ]
    # The importance-only edit changed nothing in text, payload or metadata; the first version is all new
    assert rows[0].diff == []
    assert [line.text for line in rows[2].diff if line.kind == "add"][:2] == ["+text:", "+  first words"]
    html = curator_client.get(change_url(edited)).content.decode()
    assert '<span class="diff-add">+  second words</span>' in html


def test_restore_brings_a_version_back_and_records_the_curator(curator_client: Client, edited: Memory) -> None:
    response = curator_client.post(restore_url(edited), {"version": "1"})
    assert response.status_code == 302
    assert response["Location"] == change_url(edited)
    memory = Memory.objects.get(pk=edited.pk)
    assert memory.payload == {"content": "first words"}
    assert memory.text == "first words"
    assert memory.importance != 0.9  # version 1's, like all it kept
    assert memory.version == 4
    assert versions_of(edited.pk)[-1] == (4, "restored", "admin:curator")
    assert MemoryVersion.objects.get(memory_id=edited.pk, version=4).changed == ["payload", "text", "importance"]
    assert messages_of(response) == [f"Restored {memory} from version 1."]


def test_restore_without_the_change_permission_is_403_and_changes_nothing(
    viewer_client: Client, edited: Memory
) -> None:
    # A viewer sees the versions but gets no button
    response = viewer_client.get(change_url(edited))
    assert len(response.context["versions"].rows) == 3
    assert 'value="Restore this version"' not in response.content.decode()
    assert viewer_client.post(restore_url(edited), {"version": "1"}).status_code == 403
    assert Memory.objects.get(pk=edited.pk).payload == {"content": "second words", "mood": "calm"}
    assert len(versions_of(edited.pk)) == 3


def test_restore_refuses_get_and_a_version_not_kept(curator_client: Client, edited: Memory) -> None:
    assert curator_client.get(restore_url(edited)).status_code == 405
    response = curator_client.post(restore_url(edited), {"version": "99"})
    assert response.status_code == 302
    assert messages_of(response) == [f"Not restored: Version 99 of memory {edited.pk} is not kept. (version_not_found)"]
    assert len(versions_of(edited.pk)) == 3


def test_versions_page_pages_through_older_versions(curator_client: Client, make_memory: Any) -> None:
    memory = make_memory({"content": "v1"})
    for index in range(2, 13):
        memory = memory_update(memory=memory, payload={"content": f"v{index}"})
    panel = curator_client.get(change_url(memory)).context["versions"]
    assert [row.version.version for row in panel.rows] == list(range(12, 2, -1))
    assert panel.older_than == 3
    older = curator_client.get(f"{CHANGELIST}{memory.pk}/versions/?older_than=3")
    assert older.status_code == 200
    assert [row.version.version for row in older.context["versions"].rows] == [2, 1]
    assert older.context["versions"].older_than is None
    assert 'id="older-versions"' in curator_client.get(change_url(memory)).content.decode()


def test_recently_deleted_lists_a_tenants_removed_memories_and_restores_one(
    curator_client: Client, make_memory: Any
) -> None:
    # Given two deleted memories of acme (one linked to a live one), one of another tenant, one live
    gone = make_memory({"content": "gone fact"}, coord="1,2")
    older = make_memory({"content": "older fact"})
    other = make_memory({"content": "other tenant"}, tenant="globex")
    live = make_memory({"content": "still here"})
    link_upsert(tenant="acme", source=MemoryRef(id=gone.pk), target=MemoryRef(id=live.pk), link_type="related")
    memory_delete(memory=older, actor="master")
    memory_delete(memory=gone, actor="key:ci")
    memory_delete(memory=other)
    # When the page is opened for acme
    response = curator_client.get(RECENTLY_DELETED, {"tenant": "acme"})
    # Then both, newest first, with who removed them
    removals = response.context["page"].removals
    assert [(r.memory_id, r.event, r.actor) for r in removals] == [
        (gone.pk, "deleted", "key:ci"),
        (older.pk, "deleted", "master"),
    ]
    assert response.content.decode().count('value="Restore"') == 2
    # And a restore brings it back with its coordinate and its link, recorded as the curator
    restored = curator_client.post(f"{RECENTLY_DELETED}restore/", {"memory_id": str(gone.pk), "tenant": "acme"})
    assert restored.status_code == 302
    assert restored["Location"] == change_url(gone)
    memory = Memory.objects.get(pk=gone.pk)
    assert (memory.coord_key, memory.text) == ("1.0,2.0", "gone fact")
    assert Link.objects.filter(source_id=gone.pk, target_id=live.pk).exists()
    assert versions_of(gone.pk)[-1][1:] == ("restored", "admin:curator")
    after = curator_client.get(RECENTLY_DELETED, {"tenant": "acme"})
    assert [r.memory_id for r in after.context["page"].removals] == [older.pk]


def test_restore_into_a_taken_coordinate_says_so_and_changes_nothing(curator_client: Client, make_memory: Any) -> None:
    # Given a deleted memory whose coordinate another memory holds now
    gone = make_memory({"content": "gone fact"}, coord="1,2")
    memory_delete(memory=gone)
    holder = make_memory({"content": "the new holder"}, coord="1,2")
    before = versions_of(gone.pk)
    # When a curator restores it
    response = curator_client.post(
        f"{RECENTLY_DELETED}restore/", {"memory_id": str(gone.pk), "tenant": "acme", "list_tenant": "acme"}
    )
    # Then a clear error, back to the list, and nothing changed
    assert response.status_code == 302
    assert response["Location"] == f"{RECENTLY_DELETED}?tenant=acme"
    [message] = list(response.wsgi_request._messages)
    assert message.level_tag == "error"
    assert str(message) == (
        f"Not restored: Coordinate {holder.coord_key} is held by memory {holder.pk} now; "
        "delete or move it before restoring this memory. (coordinate_taken)"
    )
    assert not Memory.objects.filter(pk=gone.pk).exists()
    assert Memory.objects.get(pk=holder.pk).text == "the new holder"
    assert versions_of(gone.pk) == before


def test_recently_deleted_needs_view_and_its_restore_the_change_permission(
    viewer_client: Client, make_memory: Any, client: Client
) -> None:
    gone = make_memory({"content": "gone fact"})
    memory_delete(memory=gone)
    response = viewer_client.get(RECENTLY_DELETED)
    assert [r.memory_id for r in response.context["page"].removals] == [gone.pk]
    assert 'value="Restore"' not in response.content.decode()
    assert (
        viewer_client.post(f"{RECENTLY_DELETED}restore/", {"memory_id": str(gone.pk), "tenant": "acme"}).status_code
        == 403
    )
    assert viewer_client.get(f"{RECENTLY_DELETED}restore/").status_code == 405
    assert not Memory.objects.filter(pk=gone.pk).exists()
    assert client.get(RECENTLY_DELETED).status_code == 302  # anonymous: to the login page


def test_changelist_links_to_recently_deleted(curator_client: Client) -> None:
    html = curator_client.get(CHANGELIST).content.decode()
    assert f'href="{RECENTLY_DELETED}"' in html


def test_history_pages_query_counts_are_pinned(
    curator_client: Client, make_memory: Any, django_assert_num_queries: Any
) -> None:
    memory = make_memory({"content": "v1"})
    for index in range(2, 30):
        memory = memory_update(memory=memory, payload={"content": f"v{index}"})
    for index in range(30):
        memory_delete(memory=make_memory({"content": f"removed {index}"}))
    curator_client.get(RECENTLY_DELETED)
    # session, user, the user's and group permissions, one page of removals: not one per row
    with django_assert_num_queries(5):
        response = curator_client.get(RECENTLY_DELETED, {"tenant": "acme"})
    assert len(response.context["page"].removals) == 30
    # session, user, the memory, permissions, one page of versions
    with django_assert_num_queries(6):
        response = curator_client.get(f"{CHANGELIST}{memory.pk}/versions/")
    assert len(response.context["versions"].rows) == 10


def test_restore_forms_carry_csrf_and_sit_outside_the_change_form(curator: Any, edited: Memory) -> None:
    client = Client(enforce_csrf_checks=True)
    client.force_login(curator)
    html = client.get(change_url(edited)).content.decode()
    change_form_end = html.index("</form>", html.index('id="memory_form"'))
    assert html.index('id="memory-versions"') > change_form_end  # a nested form would submit the change form
    # Without the token the restore is refused and nothing changes
    assert client.post(restore_url(edited), {"version": "1"}).status_code == 403
    assert Memory.objects.get(pk=edited.pk).version == 3
