"""API keys: `sfm_<key_id>_<secret>`; the secret is kept only as a SHA-256 digest."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass

from django.utils import timezone

from accounts.models import ApiKey

PREFIX = "sfm"


@dataclass
class IssuedKey:
    api_key: ApiKey
    token: str


def _digest(secret: str) -> str:
    # The secret is 32 random bytes: a fast hash is enough, no password stretching needed.
    return hashlib.sha256(secret.encode()).hexdigest()


def api_key_create(*, tenant: str, name: str = "") -> IssuedKey:
    key_id = secrets.token_hex(8)
    secret = secrets.token_urlsafe(32)
    api_key = ApiKey.objects.create(key_id=key_id, secret_hash=_digest(secret), tenant=tenant, name=name)
    return IssuedKey(api_key=api_key, token=f"{PREFIX}_{key_id}_{secret}")


def api_key_revoke(*, api_key: ApiKey) -> ApiKey:
    if api_key.revoked_at is None:
        api_key.revoked_at = timezone.now()
        api_key.save(update_fields=["revoked_at"])
    return api_key


def api_key_authenticate(*, token: str) -> ApiKey | None:
    parts = token.split("_", 2)
    if len(parts) != 3 or parts[0] != PREFIX:
        return None
    _, key_id, secret = parts
    api_key = ApiKey.objects.active().filter(key_id=key_id).first()
    if api_key is None:
        # Same work either way, so timing does not reveal which key ids exist.
        hmac.compare_digest(_digest(secret), "0" * 64)
        return None
    if not hmac.compare_digest(_digest(secret), api_key.secret_hash):
        return None
    return api_key
