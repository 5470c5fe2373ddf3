"""Live servers (scripts/serve.py in a subprocess) for the MCP tests, and the SDK's own client to talk to them."""

from __future__ import annotations

import json
import os
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from typing import Any

import httpx2
import pytest
from mcp import Client
from mcp.client.streamable_http import streamable_http_client
from mcp_types import CallToolResult

from reliability.processes import MASTER_TOKEN, LiveServer
from reliability.tests.conftest import server_on_shared_database, start_server  # noqa: F401 - a fixture used here

_PREFIX = f"mcp_live_{os.environ.get('SOMA_TEST_DB', 'mcp')}_{os.getpid()}"


@pytest.fixture(scope="module")
def mcp_server(request: pytest.FixtureRequest) -> Iterator[LiveServer]:
    """One embedded-default server (waitress, WSGI) per test module."""
    with server_on_shared_database(f"{_PREFIX}_{request.module.__name__.rsplit('.', 1)[-1]}") as server:
        yield server


@asynccontextmanager
async def mcp_client(
    server: LiveServer, *, token: str | None = MASTER_TOKEN, tenant: str | None = None, mode: str = "auto"
) -> AsyncIterator[Client]:
    headers = {}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    if tenant:
        headers["X-Soma-Tenant"] = tenant
    async with (
        httpx2.AsyncClient(headers=headers, timeout=httpx2.Timeout(30.0)) as http,
        Client(streamable_http_client(f"{server.url}/mcp", http_client=http), mode=mode) as client,  # type: ignore[arg-type]
    ):
        yield client


def error_of(result: CallToolResult) -> dict[str, Any]:
    """A refused tool call's REST error: {"code", "status", "detail"}."""
    assert result.is_error, result
    return json.loads(result.content[0].text)  # type: ignore[union-attr]


def answer_of(result: CallToolResult) -> Any:
    assert not result.is_error, result.content
    return result.structured_content
