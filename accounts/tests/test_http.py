"""API keys over HTTP: a key acts for its own tenant only."""

from __future__ import annotations

import pytest

from accounts.services import api_key_create, api_key_revoke
from memories.models import Memory

pytestmark = pytest.mark.django_db


def test_a_key_writes_and_reads_in_its_own_tenant(api_for):
    token = api_key_create(tenant="acme").token
    client = api_for(token=token)

    created = client.post("/memories", {"payload": {"content": "hello"}})
    listed = client.get("/memories")

    assert created.status_code == 200
    assert Memory.objects.get().tenant == "acme"
    assert [item["id"] for item in listed.json()["items"]] == [created.json()["memory"]["id"]]


def test_a_key_may_name_its_own_tenant(api_for):
    token = api_key_create(tenant="acme").token

    response = api_for(token=token, tenant="acme").post("/memories", {"payload": {"content": "hello"}})

    assert response.status_code == 200
    assert Memory.objects.get().tenant == "acme"


def test_a_key_cannot_act_for_another_tenant(api_for):
    token = api_key_create(tenant="acme").token

    response = api_for(token=token, tenant="globex").post("/memories", {"payload": {"content": "hello"}})

    assert response.status_code == 403
    assert response.json()["code"] == "tenant_forbidden"
    assert Memory.objects.count() == 0


def test_a_key_does_not_see_another_tenants_memories(api, api_for):
    api_for(tenant="globex").post("/memories", {"payload": {"content": "secret plans"}})
    token = api_key_create(tenant="acme").token

    response = api_for(token=token).get("/memories")

    assert response.status_code == 200
    assert response.json()["items"] == []


def test_a_revoked_key_is_refused_at_once(api_for):
    issued = api_key_create(tenant="acme")
    client = api_for(token=issued.token)
    assert client.get("/memories").status_code == 200

    api_key_revoke(api_key=issued.api_key)
    response = client.post("/memories", {"payload": {"content": "hello"}})

    assert response.status_code == 401
    assert response.json()["code"] == "unauthorized"
    assert response["WWW-Authenticate"].startswith("Bearer")
    assert Memory.objects.count() == 0


def test_the_master_token_acts_for_any_tenant(api_for):
    response = api_for(tenant="globex").post("/memories", {"payload": {"content": "hello"}})

    assert response.status_code == 200
    assert Memory.objects.get().tenant == "globex"


def test_a_master_token_lookalike_is_refused(api_for):
    response = api_for(token="test-master-token-but-longer").get("/memories")

    assert response.status_code == 401
    assert response.json()["code"] == "unauthorized"
