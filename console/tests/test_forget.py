from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

import pytest
from django.contrib.auth.models import Permission, User
from django.test import Client
from django.utils import timezone

from memories.models import Memory

pytestmark = pytest.mark.django_db

FORGET = "/admin/memories/memory/forget/"


def aged(memory: Memory, days: float) -> None:
    Memory.objects.filter(pk=memory.pk).update(created_at=timezone.now() - timedelta(days=days))


def test_preview_forgets_nothing_and_confirming_forgets_exactly_it(curator_client: Client, make_memory: Any) -> None:
    old = [make_memory({"content": f"old {i}"}) for i in range(2)]
    pinned = make_memory({"content": "old but pinned"}, pinned=True)
    recent = make_memory({"content": "recent"})
    other_tenant = make_memory({"content": "old elsewhere"}, tenant="other")
    for memory in (*old, pinned, other_tenant):
        aged(memory, 100)
    assert 'href="/admin/memories/memory/forget/"' in curator_client.get("/admin/memories/memory/").content.decode()

    preview = curator_client.post(
        FORGET, {"tenant": "acme", "namespace": "default", "max_age_days": "30", "preview": "1"}
    )

    assert preview.status_code == 200
    page = preview.content.decode()
    assert re.search(r'id="forget-count">2<', page)
    assert all(str(m.pk) in page for m in old) and str(pinned.pk) not in page and str(recent.pk) not in page
    assert Memory.objects.count() == 5
    hidden = dict(
        re.findall(r'<input type="hidden" name="(\w+)" value="([^"]*)"', page.split('id="forget-confirm"')[1])
    )
    assert hidden["reference_time"]

    confirmed = curator_client.post(FORGET, {**hidden, "confirm": "1"})

    assert confirmed.status_code == 302
    left = set(Memory.objects.values_list("pk", flat=True))
    assert left == {pinned.pk, recent.pk, other_tenant.pk}


def test_a_policy_without_rules_is_a_form_error(curator_client: Client, make_memory: Any) -> None:
    make_memory()

    response = curator_client.post(FORGET, {"tenant": "acme", "namespace": "default", "confirm": "1"})

    assert response.status_code == 200
    assert "Give at least one of max_age_days" in response.content.decode()
    assert Memory.objects.count() == 1


def test_forgetting_needs_the_delete_permission(make_memory: Any) -> None:
    memory = make_memory()
    aged(memory, 100)
    viewer = User.objects.create_user("viewer", password="viewer-password-1", is_staff=True)
    viewer.user_permissions.add(Permission.objects.get(codename="view_memory"))
    client = Client()
    client.force_login(viewer)

    response = client.post(FORGET, {"tenant": "acme", "namespace": "default", "max_age_days": "1", "confirm": "1"})

    assert response.status_code == 403
    assert Memory.objects.count() == 1
