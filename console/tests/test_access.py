from __future__ import annotations

from typing import Any

import pytest
from django.contrib.auth.models import Group, Permission
from django.test import Client

from console.tests.conftest import run_curators_migration
from memories.models import Memory

pytestmark = pytest.mark.django_db

CHANGELIST = "/admin/memories/memory/"


def test_migration_creates_curators_group_with_view_change_and_delete_rights() -> None:
    # Given a database without the group or the permissions (as before the first post_migrate)
    Group.objects.filter(name="Curators").delete()
    Permission.objects.filter(content_type__app_label__in=["memories", "graph"]).delete()
    # When the data migration runs
    run_curators_migration()
    group = Group.objects.get(name="Curators")
    # Then it holds exactly view, change and delete (curators prune) on memories and links
    assert sorted(group.permissions.values_list("content_type__app_label", "codename")) == [
        ("graph", "change_link"),
        ("graph", "delete_link"),
        ("graph", "view_link"),
        ("memories", "change_memory"),
        ("memories", "delete_memory"),
        ("memories", "view_memory"),
    ]


def _pages(memory: Memory) -> list[str]:
    return ["/admin/", CHANGELIST, f"{CHANGELIST}{memory.pk}/change/", f"{CHANGELIST}?q=lighthouse"]


def test_every_page_renders_for_a_curator(curator_client: Client, make_memory: Any) -> None:
    # Given a memory and a curator
    memory = make_memory({"content": "the lighthouse keeper"}, coord="1,2")
    # When the curator opens each console page / Then each renders
    for url in _pages(memory):
        response = curator_client.get(url)
        assert response.status_code == 200, url
    response = curator_client.get(f"{CHANGELIST}{memory.pk}/change/")
    assert b"the lighthouse keeper" in response.content
    assert b'id="similar-memories"' in response.content
    assert b'id="neighbourhood"' in response.content


def test_every_page_redirects_an_anonymous_user_to_the_login(client: Client, make_memory: Any) -> None:
    memory = make_memory({"content": "the lighthouse keeper"})
    for url in [*_pages(memory), f"{CHANGELIST}add/"]:
        response = client.get(url)
        assert response.status_code == 302, url
        assert response["Location"].startswith("/admin/login/"), url


def test_anonymous_reindex_is_redirected_and_changes_nothing(client: Client, make_memory: Any) -> None:
    memory = make_memory({"content": "x"})
    response = client.post(f"{CHANGELIST}reindex-dirty/")
    assert response.status_code == 302
    assert response["Location"].startswith("/admin/login/")
    assert Memory.objects.get(pk=memory.pk).vector_status == "pending"


def test_non_staff_user_is_refused(client: Client, django_user_model: Any, curators_group: Group) -> None:
    user = django_user_model.objects.create_user("visitor", password="visitor-password-1")
    user.groups.add(curators_group)
    client.force_login(user)
    response = client.get(CHANGELIST)
    assert response.status_code == 302
    assert response["Location"].startswith("/admin/login/")


def test_curator_may_not_add_but_may_prune(curator_client: Client, make_memory: Any) -> None:
    # Curators correct and prune; creating memories is the API's (or a superuser's) job.
    memory = make_memory({"content": "prune me"})
    assert curator_client.get(f"{CHANGELIST}add/").status_code == 403
    response = curator_client.post(f"{CHANGELIST}{memory.pk}/delete/", {"post": "yes"})
    assert response.status_code == 302
    assert not Memory.objects.filter(pk=memory.pk).exists()


def test_superuser_adds_a_memory_through_the_service(admin_client_super: Client) -> None:
    # Given the add form filled in
    form = {
        "tenant": "acme",
        "namespace": "notes",
        "coord": "3, 4",
        "memory_type": "semantic",
        "importance": "0.5",
        "payload": '{"content": "added in the admin"}',
        "metadata": '{"by": "curator"}',
        "text": "",
        **_empty_inlines(),
    }
    # When it is saved
    response = admin_client_super.post(f"{CHANGELIST}add/", form)
    # Then the memory is stored as the API would store it (canonical coordinate, derived text)
    assert response.status_code == 302, response.content[:2000]
    memory = Memory.objects.get(tenant="acme", namespace="notes")
    assert (memory.coord_key, memory.memory_type, memory.importance) == ("3.0,4.0", "semantic", 0.5)
    assert (memory.payload, memory.metadata, memory.text) == (
        {"content": "added in the admin"},
        {"by": "curator"},
        "added in the admin",
    )
    assert memory.vector_status == "pending"


def test_add_with_a_bad_coordinate_is_a_form_error(admin_client_super: Client) -> None:
    form = {
        "tenant": "acme",
        "namespace": "notes",
        "coord": "north",
        "memory_type": "semantic",
        "importance": "0.5",
        "payload": '{"content": "x"}',
        "metadata": "{}",
        "text": "",
        **_empty_inlines(),
    }
    response = admin_client_super.post(f"{CHANGELIST}add/", form)
    assert response.status_code == 200
    assert "coord" in response.context["adminform"].form.errors
    assert not Memory.objects.exists()


def _empty_inlines() -> dict[str, str]:
    fields = {}
    for prefix in ("outgoing_links", "incoming_links"):
        fields.update(
            {
                f"{prefix}-TOTAL_FORMS": "0",
                f"{prefix}-INITIAL_FORMS": "0",
                f"{prefix}-MIN_NUM_FORMS": "0",
                f"{prefix}-MAX_NUM_FORMS": "1000",
            }
        )
    return fields
