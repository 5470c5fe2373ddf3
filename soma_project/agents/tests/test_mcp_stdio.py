"""The stdio bridge (`soma-mcp-bridge`, a console script of the client package) spawned as a host
spawns it, by the MCP SDK's own stdio client, relaying to a live server's /mcp."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import anyio
import pytest
from mcp import Client
from mcp.client.stdio import StdioServerParameters
from mcp.shared.exceptions import MCPError

from reliability.processes import MASTER_TOKEN, LiveServer
from soma_project.agents.tests.conftest import answer_of, error_of

BRIDGE = Path(sys.executable).with_name("soma-mcp-bridge")


def _bridge(server: LiveServer, *, token: str = MASTER_TOKEN, tenant: str | None = None) -> StdioServerParameters:
    env = {"SOMA_URL": server.url, "SOMA_API_TOKEN": token, "PATH": str(BRIDGE.parent)}
    if tenant:
        env["SOMA_TENANT"] = tenant
    return StdioServerParameters(command=str(BRIDGE), args=[], env=env)


@pytest.mark.parametrize("mode", ["auto", "legacy"])
def test_add_search_delete_round_trip_over_stdio(mcp_server: LiveServer, mode: str) -> None:
    async def scenario() -> dict[str, Any]:
        seen: dict[str, Any] = {}
        async with Client(_bridge(mcp_server, tenant=f"stdio-{mode}"), mode=mode, read_timeout_seconds=30) as client:  # type: ignore[arg-type]
            seen["tools"] = {tool.name for tool in (await client.list_tools()).tools}
            seen["added"] = answer_of(
                await client.call_tool("add_memory", {"payload": {"content": "Bob keeps bees on the roof"}})
            )
            seen["search"] = answer_of(await client.call_tool("search_memories", {"query": "who keeps bees"}))
            seen["deleted"] = answer_of(await client.call_tool("delete_memory", {"ref": seen["added"]["memory"]["id"]}))
            seen["gone"] = error_of(await client.call_tool("get_memory", {"ref": seen["added"]["memory"]["id"]}))
        return seen

    seen = anyio.run(scenario)

    assert "search_memories" in seen["tools"] and len(seen["tools"]) >= 9
    memory_id = seen["added"]["memory"]["id"]
    assert [hit["id"] for hit in seen["search"]["memories"]] == [memory_id]
    assert seen["deleted"] == {"deleted": True, "id": memory_id, "coord": None}
    assert seen["gone"]["code"] == "memory_not_found"


def test_the_bridge_with_a_wrong_token_gets_no_tools(mcp_server: LiveServer) -> None:
    async def scenario() -> None:
        async with Client(_bridge(mcp_server, token="wrong"), mode="legacy", read_timeout_seconds=30) as client:  # type: ignore[arg-type]
            await client.list_tools()

    with pytest.raises(BaseExceptionGroup) as refused:
        anyio.run(scenario)
    assert refused.group_contains(MCPError)
