from __future__ import annotations

import pytest
from django.contrib.auth.models import User
from django.contrib.messages import get_messages
from django.urls import reverse

from accounts.models import ApiKey
from accounts.services import api_key_authenticate, api_key_create

pytestmark = pytest.mark.django_db


@pytest.fixture
def staff_client(client):
    user = User.objects.create_superuser("admin", "admin@example.com", "pw-for-tests-only")
    client.force_login(user)
    return client


def test_changelist_lists_keys_without_their_secrets(staff_client):
    issued = api_key_create(tenant="acme", name="ci")

    response = staff_client.get(reverse("admin:accounts_apikey_changelist"), {"state": "active", "q": "acme"})

    body = response.content.decode()
    assert response.status_code == 200
    assert issued.api_key.key_id in body
    assert issued.api_key.secret_hash not in body
    assert issued.token.split("_", 2)[2] not in body


def test_change_page_never_shows_the_hash(staff_client):
    issued = api_key_create(tenant="acme")

    response = staff_client.get(reverse("admin:accounts_apikey_change", args=[issued.api_key.pk]))

    assert response.status_code == 200
    assert issued.api_key.secret_hash not in response.content.decode()


def test_adding_a_key_shows_its_token_once(staff_client):
    response = staff_client.post(reverse("admin:accounts_apikey_add"), {"tenant": "acme", "name": "from admin"})

    assert response.status_code == 302
    stored = ApiKey.objects.get()
    assert (stored.tenant, stored.name) == ("acme", "from admin")
    tokens = [word for m in get_messages(response.wsgi_request) for word in str(m).split() if word.startswith("sfm_")]
    assert len(tokens) == 1 and api_key_authenticate(token=tokens[0]) == stored
    # Shown on the page after the redirect, then never again.
    assert tokens[0] in staff_client.get(response["Location"]).content.decode()
    assert tokens[0] not in staff_client.get(response["Location"]).content.decode()


def test_adding_a_key_for_a_malformed_tenant_is_refused(staff_client):
    response = staff_client.post(reverse("admin:accounts_apikey_add"), {"tenant": "not a tenant", "name": ""})

    assert response.status_code == 200
    assert response.context["adminform"].form.errors["tenant"]
    assert ApiKey.objects.count() == 0


def test_the_tenant_of_a_key_cannot_be_changed(staff_client):
    issued = api_key_create(tenant="acme", name="old")

    staff_client.post(
        reverse("admin:accounts_apikey_change", args=[issued.api_key.pk]), {"tenant": "globex", "name": "new"}
    )

    stored = ApiKey.objects.get()
    assert (stored.tenant, stored.name, stored.secret_hash) == ("acme", "new", issued.api_key.secret_hash)


def test_revoke_action_revokes_the_selected_keys(staff_client):
    keep = api_key_create(tenant="acme")
    drop = api_key_create(tenant="acme")

    response = staff_client.post(
        reverse("admin:accounts_apikey_changelist"),
        {"action": "revoke_keys", "_selected_action": [drop.api_key.pk]},
    )

    assert response.status_code == 302
    assert api_key_authenticate(token=drop.token) is None
    assert api_key_authenticate(token=keep.token) == keep.api_key


def test_keys_cannot_be_deleted_from_the_admin(staff_client):
    issued = api_key_create(tenant="acme")

    response = staff_client.post(reverse("admin:accounts_apikey_delete", args=[issued.api_key.pk]), {"post": "yes"})

    assert response.status_code == 403
    assert ApiKey.objects.count() == 1
