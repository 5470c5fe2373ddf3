from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from django.core.cache import cache
from django.test import Client

MASTER_TOKEN = "test-master-token"


@pytest.fixture(autouse=True)
def _clear_cache() -> Iterator[None]:
    cache.clear()
    yield
    cache.clear()


class ApiClient:
    """The full HTTP stack (middleware, routing, error handlers) with a bearer token."""

    def __init__(self, *, token: str | None = MASTER_TOKEN, tenant: str | None = None) -> None:
        self.client = Client()
        self.token = token
        self.tenant = tenant

    def _headers(self, extra: dict[str, str] | None) -> dict[str, str]:
        headers = {}
        if self.token is not None:
            headers["Authorization"] = f"Bearer {self.token}"
        if self.tenant is not None:
            headers["X-Soma-Tenant"] = self.tenant
        headers.update(extra or {})
        return headers

    def get(self, path: str, params: dict[str, Any] | None = None, headers: dict[str, str] | None = None) -> Any:
        return self.client.get(path, params or {}, headers=self._headers(headers))

    def post(
        self, path: str, body: Any = None, *, raw: bytes | str | None = None, headers: dict[str, str] | None = None
    ) -> Any:
        data = raw if raw is not None else json.dumps(body)
        return self.client.post(path, data, content_type="application/json", headers=self._headers(headers))

    def patch(self, path: str, body: Any = None, *, raw: bytes | str | None = None) -> Any:
        data = raw if raw is not None else json.dumps(body)
        return self.client.patch(path, data, content_type="application/json", headers=self._headers(None))

    def delete(self, path: str, params: dict[str, Any] | None = None, body: Any = None) -> Any:
        from urllib.parse import urlencode

        query = f"?{urlencode(params)}" if params else ""
        data = json.dumps(body) if body is not None else ""
        return self.client.delete(path + query, data, content_type="application/json", headers=self._headers(None))


@pytest.fixture
def api() -> ApiClient:
    return ApiClient()


@pytest.fixture
def api_for():
    def make(tenant: str | None = None, token: str | None = MASTER_TOKEN) -> ApiClient:
        return ApiClient(token=token, tenant=tenant)

    return make
