from __future__ import annotations

from accounts.errors import ApiKeyErrorCode
from accounts.models import ApiKey
from core.errors import NotFound


def api_key_list(*, tenant: str | None = None, include_revoked: bool = False) -> list[ApiKey]:
    queryset = ApiKey.objects.all() if include_revoked else ApiKey.objects.active()
    if tenant is not None:
        queryset = queryset.filter(tenant=tenant)
    return list(queryset.order_by("tenant", "created_at"))


def api_key_get(*, key_id: str) -> ApiKey:
    api_key = ApiKey.objects.filter(key_id=key_id).first()
    if api_key is None:
        raise NotFound(f"No API key with id {key_id!r}.", ApiKeyErrorCode.API_KEY_NOT_FOUND)
    return api_key
