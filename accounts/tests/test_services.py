from __future__ import annotations

import hashlib
from datetime import timedelta

import pytest
from django.utils import timezone

from accounts.errors import ApiKeyErrorCode
from accounts.models import ApiKey
from accounts.services import api_key_authenticate, api_key_create, api_key_rename, api_key_revoke
from core.errors import InvalidInput

pytestmark = pytest.mark.django_db


def test_create_stores_only_a_digest_of_the_secret():
    issued = api_key_create(tenant="acme", name="ci")

    prefix, key_id, secret = issued.token.split("_", 2)
    stored = ApiKey.objects.get()
    assert prefix == "sfm"
    assert key_id == stored.key_id and len(key_id) == 16
    assert len(secret) >= 43
    assert stored.secret_hash == hashlib.sha256(secret.encode()).hexdigest()
    assert secret not in {stored.secret_hash, stored.name, stored.key_id}
    assert (stored.tenant, stored.name, stored.revoked_at, stored.last_used_at) == ("acme", "ci", None, None)


@pytest.mark.parametrize("tenant", ["", "a b", "x" * 65, "t/1"])
def test_create_refuses_a_tenant_no_request_could_name(tenant):
    with pytest.raises(InvalidInput) as caught:
        api_key_create(tenant=tenant)

    assert caught.value.code == ApiKeyErrorCode.INVALID_TENANT
    assert ApiKey.objects.count() == 0


def test_create_refuses_a_long_name():
    with pytest.raises(InvalidInput) as caught:
        api_key_create(tenant="acme", name="n" * 101)

    assert caught.value.code == ApiKeyErrorCode.INVALID_NAME
    assert ApiKey.objects.count() == 0


def test_authenticate_accepts_the_issued_token():
    issued = api_key_create(tenant="acme")

    assert api_key_authenticate(token=issued.token) == issued.api_key


@pytest.mark.parametrize(
    "mangle",
    [
        lambda token: token[:-1] + ("A" if token[-1] != "A" else "B"),  # wrong secret
        lambda token: token.replace("sfm_", "xyz_"),  # wrong prefix
        lambda token: "sfm_" + "0" * 16 + "_" + token.split("_", 2)[2],  # unknown key id
        lambda token: "sfm_" + token.split("_", 2)[1],  # no secret
        lambda token: "sfm_'; drop table x;--_secret",  # not a key id at all
        lambda token: "",
    ],
)
def test_authenticate_refuses_a_mangled_token(mangle):
    issued = api_key_create(tenant="acme")

    assert api_key_authenticate(token=mangle(issued.token)) is None
    assert ApiKey.objects.get().last_used_at is None


def test_authenticate_refuses_a_revoked_key():
    issued = api_key_create(tenant="acme")
    api_key_revoke(api_key=issued.api_key)

    assert api_key_authenticate(token=issued.token) is None


def test_revoke_keeps_the_first_revocation_time():
    issued = api_key_create(tenant="acme")
    first = api_key_revoke(api_key=issued.api_key).revoked_at

    again = api_key_revoke(api_key=ApiKey.objects.get()).revoked_at

    assert first is not None and again == first


def test_last_used_is_written_at_most_once_a_minute(django_assert_num_queries):
    issued = api_key_create(tenant="acme")

    # Given a key never used: the lookup and one UPDATE.
    with django_assert_num_queries(2):
        api_key_authenticate(token=issued.token)
    first_use = ApiKey.objects.get().last_used_at
    assert first_use is not None

    # When it is used again within the minute: the lookup only, no write.
    with django_assert_num_queries(1):
        api_key_authenticate(token=issued.token)
    assert ApiKey.objects.get().last_used_at == first_use

    # When the last recorded use is over a minute old: written again.
    ApiKey.objects.update(last_used_at=timezone.now() - timedelta(minutes=2))
    api_key_authenticate(token=issued.token)
    assert ApiKey.objects.get().last_used_at > first_use


def test_rename_changes_only_the_name():
    issued = api_key_create(tenant="acme", name="old")

    api_key_rename(api_key=issued.api_key, name="new")

    stored = ApiKey.objects.get()
    assert (stored.name, stored.tenant, stored.secret_hash) == ("new", "acme", issued.api_key.secret_hash)
