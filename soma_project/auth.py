"""Bearer authentication: the master token (any tenant) or a tenant-bound API key."""

from __future__ import annotations

import hmac

from django.conf import settings
from django.http import HttpRequest
from ninja.security import HttpBearer

from accounts.services import api_key_authenticate
from core.errors import Forbidden, InvalidInput
from core.tenancy import NAME_PATTERN, TENANT_HEADER, Principal, TenancyErrorCode


def principal_authenticate(*, token: str, requested_tenant: str | None) -> Principal | None:
    """The principal a bearer token acts as, for REST and for /mcp alike; None for an unknown token.

    Raises InvalidInput for a malformed X-Soma-Tenant and Forbidden when an API key names
    another tenant than its own.
    """
    if requested_tenant is not None and not NAME_PATTERN.match(requested_tenant):
        raise InvalidInput(
            f"{TENANT_HEADER} must be 1-64 characters of [A-Za-z0-9_.-].", TenancyErrorCode.INVALID_TENANT
        )
    master = settings.SOMA_API_TOKEN
    if master and hmac.compare_digest(token.encode(), master.encode()):
        return Principal(tenant=requested_tenant or "default", is_master=True)
    api_key = api_key_authenticate(token=token)
    if api_key is None:
        return None
    if requested_tenant is not None and requested_tenant != api_key.tenant:
        raise Forbidden(
            f"This API key acts only for its own tenant, not {requested_tenant!r}.", TenancyErrorCode.TENANT_FORBIDDEN
        )
    return Principal(tenant=api_key.tenant, is_master=False, key_id=api_key.key_id, key_name=api_key.name)


def bearer_token(authorization: str | None) -> str | None:
    """The token of an Authorization header, read exactly as ninja's HttpBearer reads it on every
    route (so "Bearer  <token>", two spaces, is a wrong token, never a stripped right one)."""
    if not authorization:
        return None
    scheme, *rest = authorization.split(" ")
    return " ".join(rest) if scheme.lower() == "bearer" else None


class BearerAuth(HttpBearer):
    def authenticate(self, request: HttpRequest, token: str) -> Principal | None:
        return principal_authenticate(token=token, requested_tenant=request.headers.get(TENANT_HEADER))


def optional_principal(request: HttpRequest) -> Principal | None:
    """For public endpoints that answer more with a valid token (e.g. /stats).

    The header is read exactly as on every other route (ninja's HttpBearer): "Bearer  <token>"
    (two spaces) is a wrong token here too, never a stripped right one.
    """
    principal = BearerAuth()(request)
    return principal if isinstance(principal, Principal) else None
