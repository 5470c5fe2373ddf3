"""Who a request acts as: the principal, the tenant header, and the one rule for names
(tenants, namespaces, API-key names)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum

from django.http import HttpRequest

TENANT_HEADER = "X-Soma-Tenant"
# Tenants, namespaces and API-key names: what a header, a URL and a Qdrant payload all carry as is.
NAME_REGEX = r"^[A-Za-z0-9_.-]{1,64}$"
NAME_PATTERN = re.compile(NAME_REGEX)


class TenancyErrorCode(StrEnum):
    INVALID_TENANT = "invalid_tenant"
    TENANT_FORBIDDEN = "tenant_forbidden"


@dataclass(frozen=True)
class Principal:
    tenant: str
    is_master: bool
    key_id: str | None = None
    key_name: str = ""

    @property
    def throttle_key(self) -> str:
        return f"key:{self.key_id}" if self.key_id else f"master:{self.tenant}"

    @property
    def actor(self) -> str:
        """Who a change is recorded as in a memory's history."""
        if self.is_master:
            return "master"
        return f"key:{self.key_name or self.key_id}"


def request_principal(request: HttpRequest) -> Principal:
    principal = request.auth  # type: ignore[attr-defined]
    assert isinstance(principal, Principal)
    return principal


def request_tenant(request: HttpRequest) -> str:
    return request_principal(request).tenant


def request_actor(request: HttpRequest) -> str:
    return request_principal(request).actor
