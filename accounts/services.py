"""API keys: `sfm_<key_id>_<secret>`; the secret is kept only as a SHA-256 digest."""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass
from datetime import timedelta

from django.db.models import Q
from django.utils import timezone

from accounts.errors import ApiKeyErrorCode
from accounts.models import ApiKey
from core.errors import InvalidInput
from core.tenancy import NAME_PATTERN

PREFIX = "sfm"
# Same grammar as the X-Soma-Tenant header: a key for any other tenant could never be used.
NAME_MAX_LENGTH = 100
# last_used_at is for operators ("is this key still in use?"), not an audit log: writing it on
# every request would turn each read into a write on one hot row.
LAST_USED_RESOLUTION = timedelta(minutes=1)
_KEY_ID_PATTERN = re.compile(r"^[0-9a-f]{16}$")


@dataclass(frozen=True)
class IssuedKey:
    api_key: ApiKey
    token: str


def _digest(secret: str) -> str:
    # The secret is 32 random bytes: a fast hash is enough, no password stretching needed.
    return hashlib.sha256(secret.encode()).hexdigest()


def api_key_create(*, tenant: str, name: str = "") -> IssuedKey:
    if not NAME_PATTERN.match(tenant):
        raise InvalidInput("tenant must be 1-64 characters of [A-Za-z0-9_.-].", ApiKeyErrorCode.INVALID_TENANT)
    if len(name) > NAME_MAX_LENGTH:
        raise InvalidInput(f"name must be at most {NAME_MAX_LENGTH} characters.", ApiKeyErrorCode.INVALID_NAME)
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
    if len(parts) != 3 or parts[0] != PREFIX or not _KEY_ID_PATTERN.match(parts[1]):
        return None
    _, key_id, secret = parts
    api_key = ApiKey.objects.active().filter(key_id=key_id).first()
    if api_key is None:
        # Same work either way, so timing does not reveal which key ids exist.
        hmac.compare_digest(_digest(secret), "0" * 64)
        return None
    if not hmac.compare_digest(_digest(secret), api_key.secret_hash):
        return None
    api_key_touch(api_key=api_key)
    return api_key


def api_key_touch(*, api_key: ApiKey) -> None:
    """Record use at most once per LAST_USED_RESOLUTION, and once across concurrent workers."""
    now = timezone.now()
    stale_before = now - LAST_USED_RESOLUTION
    if api_key.last_used_at is not None and api_key.last_used_at > stale_before:
        return
    # The condition is repeated in SQL so concurrent requests of the same minute write once.
    ApiKey.objects.filter(pk=api_key.pk).filter(
        Q(last_used_at__isnull=True) | Q(last_used_at__lte=stale_before)
    ).update(last_used_at=now)
    api_key.last_used_at = now


def api_key_rename(*, api_key: ApiKey, name: str) -> ApiKey:
    if len(name) > NAME_MAX_LENGTH:
        raise InvalidInput(f"name must be at most {NAME_MAX_LENGTH} characters.", ApiKeyErrorCode.INVALID_NAME)
    api_key.name = name
    api_key.save(update_fields=["name"])
    return api_key
