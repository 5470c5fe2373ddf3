from __future__ import annotations

from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from accounts.models import ApiKey
from accounts.services import api_key_authenticate, api_key_create

pytestmark = pytest.mark.django_db


def run(*args: str) -> tuple[str, str]:
    out, err = StringIO(), StringIO()
    call_command(*args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def test_create_api_key_prints_the_token_once_on_stdout():
    out, err = run("create_api_key", "--tenant", "acme", "--name", "ci")

    token = out.strip()
    stored = ApiKey.objects.get()
    assert token.startswith(f"sfm_{stored.key_id}_")
    assert (stored.tenant, stored.name) == ("acme", "ci")
    assert api_key_authenticate(token=token) == stored
    assert stored.key_id in err and token not in err


def test_create_api_key_refuses_a_bad_tenant():
    with pytest.raises(CommandError, match="tenant must be"):
        run("create_api_key", "--tenant", "not a tenant")

    assert ApiKey.objects.count() == 0


def test_create_api_key_requires_a_tenant():
    with pytest.raises(CommandError, match="--tenant"):
        run("create_api_key")

    assert ApiKey.objects.count() == 0


def test_revoke_api_key_revokes_by_key_id():
    issued = api_key_create(tenant="acme")

    out, _ = run("revoke_api_key", issued.api_key.key_id)

    assert f"revoked {issued.api_key.key_id}" in out
    assert ApiKey.objects.get().revoked_at is not None
    assert api_key_authenticate(token=issued.token) is None


def test_revoke_api_key_takes_the_whole_token_pasted_and_says_when_it_was_revoked_already():
    issued = api_key_create(tenant="acme")

    out, _ = run("revoke_api_key", issued.token)
    again, _ = run("revoke_api_key", issued.api_key.key_id)

    assert f"revoked {issued.api_key.key_id}" in out
    assert f"already revoked {issued.api_key.key_id}" in again
    assert api_key_authenticate(token=issued.token) is None


def test_revoke_api_key_fails_on_an_unknown_id_but_revokes_the_others():
    issued = api_key_create(tenant="acme")

    with pytest.raises(CommandError, match="1 of 2 key id"):
        run("revoke_api_key", "0" * 16, issued.api_key.key_id)

    assert ApiKey.objects.get().revoked_at is not None


def test_list_api_keys_shows_ids_never_secrets():
    active = api_key_create(tenant="acme", name="ci")
    revoked = api_key_create(tenant="globex")
    run("revoke_api_key", revoked.api_key.key_id)

    out, _ = run("list_api_keys")
    everything, _ = run("list_api_keys", "--all")

    assert active.api_key.key_id in out and revoked.api_key.key_id not in out
    assert active.api_key.key_id in everything and revoked.api_key.key_id in everything
    for issued in (active, revoked):
        secret = issued.token.split("_", 2)[2]
        assert secret not in everything and issued.api_key.secret_hash not in everything
