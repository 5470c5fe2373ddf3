"""/mcp over real HTTP, spoken by the MCP SDK's own client, against a live server process."""

from __future__ import annotations

from typing import Any

import anyio
import httpx
import pytest
from mcp.shared.exceptions import MCPError

from reliability.processes import MASTER_TOKEN, LiveServer
from reliability.tests.conftest import query
from soma_project.agents.tests.conftest import answer_of, error_of, mcp_client
from tests_support.factories import api_key

TOOLS = {
    "add_memory",
    "search_memories",
    "get_memory",
    "update_memory",
    "delete_memory",
    "list_memories",
    "memory_history",
    "link_memories",
    "graph_neighbors",
    "graph_shortest_path",
}
READ_ONLY = {
    "search_memories",
    "get_memory",
    "list_memories",
    "memory_history",
    "graph_neighbors",
    "graph_shortest_path",
}
DESTRUCTIVE = {"update_memory", "delete_memory"}


def _count(server: LiveServer, tenant: str | None = None) -> int:
    sql = "SELECT count(*) FROM memories_memory" + (" WHERE tenant = %s" if tenant else "")
    return int(query(server.env["DATABASE_URL"], sql, (tenant,) if tenant else ())[0][0])


@pytest.mark.parametrize("mode", ["auto", "legacy"])
def test_tools_are_listed_with_their_rest_schemas_and_annotations(mcp_server: LiveServer, mode: str) -> None:
    async def scenario() -> Any:
        async with mcp_client(mcp_server, mode=mode) as client:
            return (await client.list_tools()).tools

    tools = {tool.name: tool for tool in anyio.run(scenario)}

    assert set(tools) == TOOLS
    for name, tool in tools.items():
        hints = tool.annotations
        assert hints is not None and hints.open_world_hint is False, name
        assert hints.read_only_hint is (name in READ_ONLY), name
        if name not in READ_ONLY:
            assert hints.destructive_hint is (name in DESTRUCTIVE), name
        assert tool.description and len(tool.description) > 60, name
        assert tool.output_schema is not None and tool.output_schema["type"] == "object", name
    add = tools["add_memory"].input_schema
    assert add["required"] == ["payload"]
    assert add["properties"]["importance"]["maximum"] == 1.0
    search = tools["search_memories"].input_schema
    assert search["required"] == ["query"]
    assert (search["properties"]["top_k"]["minimum"], search["properties"]["top_k"]["maximum"]) == (1, 100)
    assert search["properties"]["mode"]["enum"] == ["vector", "keyword", "hybrid"]
    assert search["properties"]["filters"]["type"] == "object"
    for name in ("get_memory", "update_memory", "delete_memory"):
        assert "ref" in tools[name].input_schema["required"], name
    assert set(tools["update_memory"].input_schema["properties"]) >= {"ref", "namespace", "payload", "text"}
    assert {"memories", "degraded"} <= set(tools["search_memories"].output_schema["properties"])  # type: ignore[index]


@pytest.mark.parametrize("mode", ["auto", "legacy"])
def test_add_search_get_update_delete_round_trip(mcp_server: LiveServer, mode: str) -> None:
    tenant = f"round-{mode}"

    async def scenario() -> dict[str, Any]:
        seen: dict[str, Any] = {}
        async with mcp_client(mcp_server, tenant=tenant, mode=mode) as client:
            seen["added"] = answer_of(
                await client.call_tool(
                    "add_memory",
                    {"payload": {"content": "Alice prefers green tea in the morning"}, "metadata": {"user": "alice"}},
                )
            )
            seen["search"] = answer_of(
                await client.call_tool("search_memories", {"query": "what does Alice drink", "top_k": 3})
            )
            memory_id = seen["added"]["memory"]["id"]
            seen["got"] = answer_of(await client.call_tool("get_memory", {"ref": memory_id}))
            seen["updated"] = answer_of(
                await client.call_tool(
                    "update_memory", {"ref": memory_id, "payload": {"content": "Alice switched to coffee"}}
                )
            )
            seen["deleted"] = answer_of(await client.call_tool("delete_memory", {"ref": memory_id}))
            seen["gone"] = error_of(await client.call_tool("get_memory", {"ref": memory_id}))
            seen["history"] = answer_of(await client.call_tool("memory_history", {"ref": memory_id}))
            seen["deleted_again"] = answer_of(await client.call_tool("delete_memory", {"ref": memory_id}))
        return seen

    seen = anyio.run(scenario)

    memory = seen["added"]["memory"]
    assert [item["event"] for item in seen["history"]["items"]] == ["deleted", "updated", "created"]
    assert seen["history"]["items"][1]["memory"]["payload"] == {"content": "Alice switched to coffee"}
    assert seen["added"]["created"] is True
    assert memory["payload"] == {"content": "Alice prefers green tea in the morning"}
    assert memory["metadata"] == {"user": "alice"}
    assert [hit["id"] for hit in seen["search"]["memories"]] == [memory["id"]]
    assert seen["search"]["memories"][0]["score"] > 0
    assert seen["got"]["memory"]["id"] == memory["id"]
    assert seen["updated"]["memory"]["text"] == "Alice switched to coffee"
    assert seen["deleted"]["deleted"] is True and seen["deleted"]["id"] == memory["id"]
    assert (seen["gone"]["status"], seen["gone"]["code"]) == (404, "memory_not_found")
    assert seen["deleted_again"]["deleted"] is False
    assert _count(mcp_server, tenant) == 0


def test_graph_tools_on_a_small_graph(mcp_server: LiveServer) -> None:
    async def scenario() -> dict[str, Any]:
        seen: dict[str, Any] = {}
        async with mcp_client(mcp_server, tenant="graph") as client:
            for coord, content in (("1,0", "kettle"), ("2,0", "water"), ("3,0", "tea")):
                answer_of(await client.call_tool("add_memory", {"coord": coord, "payload": {"content": content}}))
            seen["links"] = [
                answer_of(await client.call_tool("link_memories", {"from_coord": a, "to_coord": b, "link_type": t}))
                for a, b, t in (("1,0", "2,0", "heats"), ("2,0", "3,0", "brews"))
            ]
            seen["neighbors"] = answer_of(await client.call_tool("graph_neighbors", {"coord": "1,0", "k_hop": 2}))
            seen["path"] = answer_of(
                await client.call_tool("graph_shortest_path", {"from_coord": "1,0", "to_coord": "3,0"})
            )
            seen["no_path"] = answer_of(
                await client.call_tool("graph_shortest_path", {"from_coord": "3,0", "to_coord": "1,0"})
            )
            seen["self_link"] = error_of(
                await client.call_tool("link_memories", {"from_coord": "1,0", "to_coord": "1.0,0.0"})
            )
        return seen

    seen = anyio.run(scenario)

    assert [link["link"]["link_type"] for link in seen["links"]] == ["heats", "brews"]
    neighbors = seen["neighbors"]["neighbors"]
    assert [(n["coord"], n["depth"], n["link_type"]) for n in neighbors] == [
        ("2.0,0.0", 1, "heats"),
        ("3.0,0.0", 2, "brews"),
    ]
    assert neighbors[1]["memory"]["payload"] == {"content": "tea"}
    path = seen["path"]
    assert (path["found"], path["length"], path["path"], path["link_types"]) == (
        True,
        2,
        ["1.0,0.0", "2.0,0.0", "3.0,0.0"],
        ["heats", "brews"],
    )
    assert seen["no_path"]["found"] is False  # links point one way
    assert (seen["self_link"]["status"], seen["self_link"]["code"]) == (422, "self_link")


def test_two_api_keys_never_see_each_other(mcp_server: LiveServer) -> None:
    alpha, beta = api_key(mcp_server, "alpha"), api_key(mcp_server, "beta")

    async def scenario() -> dict[str, Any]:
        seen: dict[str, Any] = {}
        async with mcp_client(mcp_server, token=alpha) as client:
            seen["added"] = answer_of(
                await client.call_tool("add_memory", {"coord": "9,9", "payload": {"content": "alpha's secret plan"}})
            )
        async with mcp_client(mcp_server, token=beta) as client:
            seen["search"] = answer_of(await client.call_tool("search_memories", {"query": "secret plan"}))
            seen["list"] = answer_of(await client.call_tool("list_memories", {}))
            seen["get_id"] = error_of(await client.call_tool("get_memory", {"ref": seen["added"]["memory"]["id"]}))
            seen["get_coord"] = error_of(await client.call_tool("get_memory", {"ref": "9,9"}))
            seen["delete"] = await client.call_tool("delete_memory", {"ref": seen["added"]["memory"]["id"]})
        async with mcp_client(mcp_server, token=alpha) as client:
            seen["still_there"] = answer_of(await client.call_tool("get_memory", {"ref": "9,9"}))
        return seen

    seen = anyio.run(scenario)

    assert seen["search"]["memories"] == []
    assert seen["list"]["items"] == []
    assert seen["get_id"]["code"] == seen["get_coord"]["code"] == "memory_not_found"
    assert seen["still_there"]["memory"]["payload"] == {"content": "alpha's secret plan"}
    assert _count(mcp_server, "alpha") == 1
    assert _count(mcp_server, "beta") == 0
    # An API key naming another tenant is refused before any MCP message is read, as in REST.
    refused = httpx.post(
        f"{mcp_server.url}/mcp",
        json={"jsonrpc": "2.0", "id": 1, "method": "tools/list"},
        headers={"Authorization": f"Bearer {beta}", "X-Soma-Tenant": "alpha", "Accept": "application/json"},
    )
    assert (refused.status_code, refused.json()["code"]) == (403, "tenant_forbidden")


@pytest.mark.parametrize("token", [None, "wrong-token", "sfm_0123456789abcdef_nope"])
def test_a_missing_or_wrong_token_is_refused(mcp_server: LiveServer, token: str | None) -> None:
    headers = {"Accept": "application/json, text/event-stream", "Content-Type": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    initialize = {
        "jsonrpc": "2.0",
        "id": 1,
        "method": "initialize",
        "params": {"protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}},
    }

    response = httpx.post(f"{mcp_server.url}/mcp", json=initialize, headers=headers)

    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"].startswith("Bearer")
    assert response.json() == {"detail": "Missing or invalid bearer token.", "code": "unauthorized"}

    async def scenario() -> None:
        async with mcp_client(mcp_server, token=token) as client:
            await client.list_tools()

    # The SDK client reports the 401 as an error response and never gets a tool list.
    with pytest.raises(BaseExceptionGroup) as refused:
        anyio.run(scenario)
    assert refused.group_contains(MCPError)


def test_bad_arguments_name_the_field_and_store_nothing(mcp_server: LiveServer) -> None:
    tenant = "bad-args"

    async def scenario() -> dict[str, Any]:
        async with mcp_client(mcp_server, tenant=tenant) as client:
            calls = {
                "no_payload": ("add_memory", {"text": "no payload"}),
                "importance": ("add_memory", {"payload": {"content": "x"}, "importance": 2}),
                "payload_type": ("add_memory", {"payload": ["not", "an", "object"]}),
                "coord": ("add_memory", {"payload": {"content": "x"}, "coord": "1,nope"}),
                "top_k": ("search_memories", {"query": "tea", "top_k": 0}),
                "filter": ("search_memories", {"query": "tea", "filters": {"score": {"near": 1}}}),
                "ref": ("get_memory", {"ref": "1,,2"}),
                # Refs beyond Latin-1 once crashed the tool (the path went to Django as text)
                "ref_digits": ("get_memory", {"ref": "\u0661"}),
                "ref_fullwidth": ("update_memory", {"ref": "\uff11,\uff12", "pinned": True}),
                "ref_accent": ("delete_memory", {"ref": "caf\u00e9"}),
                # A ref is one path segment: "<id>/history" must not reach the history route
                "ref_slash": ("get_memory", {"ref": "00000000-0000-0000-0000-000000000001/history"}),
                "patch_unknown": ("update_memory", {"ref": "1,2", "colour": "red"}),
                "path_end": ("graph_shortest_path", {"to_coord": "1,2"}),
            }
            seen = {key: error_of(await client.call_tool(name, args)) for key, (name, args) in calls.items()}
            seen["unknown_tool"] = (await client.call_tool("drop_all_memories", {})).is_error
            return seen

    seen = anyio.run(scenario)

    def first_loc(error: dict[str, Any]) -> list[Any]:
        return error["detail"][0]["loc"]

    assert (seen["no_payload"]["status"], seen["no_payload"]["code"], first_loc(seen["no_payload"])) == (
        422,
        "validation_error",
        ["payload"],
    )
    assert (seen["importance"]["code"], first_loc(seen["importance"])) == ("validation_error", ["importance"])
    assert first_loc(seen["payload_type"]) == ["payload"]
    assert (seen["coord"]["status"], seen["coord"]["code"]) == (400, "invalid_coordinate")
    assert (seen["top_k"]["code"], first_loc(seen["top_k"])) == ("validation_error", ["top_k"])
    assert (seen["filter"]["status"], seen["filter"]["code"]) == (400, "invalid_filter")
    assert (seen["ref"]["status"], seen["ref"]["code"]) == (400, "invalid_coordinate")
    assert (seen["ref_digits"]["status"], seen["ref_digits"]["code"]) == (400, "invalid_reference")
    assert (seen["ref_fullwidth"]["status"], seen["ref_fullwidth"]["code"]) == (400, "invalid_coordinate")
    assert (seen["ref_accent"]["status"], seen["ref_accent"]["code"]) == (400, "invalid_reference")
    assert "caf\u00e9" in seen["ref_accent"]["detail"]  # as sent, not percent-escaped bytes
    assert (seen["ref_slash"]["status"], seen["ref_slash"]["code"]) == (400, "invalid_reference")
    assert (seen["patch_unknown"]["code"], first_loc(seen["patch_unknown"])) == ("validation_error", ["colour"])
    assert (seen["path_end"]["status"], seen["path_end"]["code"]) == (422, "missing_reference")
    assert seen["unknown_tool"] is True
    assert _count(mcp_server, tenant) == 0


def test_the_master_token_acts_for_the_tenant_it_names(mcp_server: LiveServer) -> None:
    async def scenario() -> tuple[Any, Any]:
        async with mcp_client(mcp_server, token=MASTER_TOKEN, tenant="named") as client:
            added = answer_of(await client.call_tool("add_memory", {"payload": {"content": "named tenant"}}))
        async with mcp_client(mcp_server, token=MASTER_TOKEN) as client:  # the default tenant
            missing = error_of(await client.call_tool("get_memory", {"ref": added["memory"]["id"]}))
        return added, missing

    added, missing = anyio.run(scenario)

    rows = query(
        mcp_server.env["DATABASE_URL"], "SELECT tenant FROM memories_memory WHERE id = %s", (added["memory"]["id"],)
    )
    assert rows == [("named",)]
    assert missing["code"] == "memory_not_found"


def test_gunicorn_uvicorn_workers_serve_mcp_too(start_server: Any) -> None:
    # QDRANT_URL makes scripts/serve.py run gunicorn with uvicorn workers (ASGI); the closed
    # port leaves search on PostgreSQL full text, which is all this test needs.
    server = start_server(QDRANT_URL="http://127.0.0.1:9", SOMA_VECTOR_STORE="qdrant", SOMA_WORKERS="2")

    async def scenario() -> tuple[Any, Any, Any]:
        async with mcp_client(server, tenant="asgi") as client:
            tools = (await client.list_tools()).tools
            added = answer_of(await client.call_tool("add_memory", {"payload": {"content": "uvicorn serves tea"}}))
            found = answer_of(await client.call_tool("search_memories", {"query": "tea", "mode": "keyword"}))
        return tools, added, found

    tools, added, found = anyio.run(scenario)

    assert {tool.name for tool in tools} == TOOLS
    assert [hit["id"] for hit in found["memories"]] == [added["memory"]["id"]]
    unauthorized = httpx.post(f"{server.url}/mcp", json={"jsonrpc": "2.0", "id": 1, "method": "tools/list"})
    assert unauthorized.status_code == 401
    assert httpx.get(f"{server.url}/healthz").json() == {"status": "ok"}


def test_transport_refusals_have_the_api_error_shape(mcp_server: LiveServer) -> None:
    auth = {"Authorization": f"Bearer {MASTER_TOKEN}", "Accept": "application/json, text/event-stream"}
    add = {
        "jsonrpc": "2.0",
        "id": 1,
        "method": "tools/call",
        "params": {"name": "add_memory", "arguments": {"payload": {"content": "refused"}}},
    }
    before = _count(mcp_server)

    stream = httpx.get(f"{mcp_server.url}/mcp", headers={**auth, "Accept": "text/event-stream"})
    foreign = httpx.post(f"{mcp_server.url}/mcp", json=add, headers={**auth, "Host": "evil.example"})
    text = httpx.post(f"{mcp_server.url}/mcp", content=b"{}", headers={**auth, "Content-Type": "text/plain"})
    large = httpx.post(
        f"{mcp_server.url}/mcp",
        content=b'{"padding": "' + b"x" * 1_100_000 + b'"}',
        headers={**auth, "Content-Type": "application/json"},
    )

    assert (stream.status_code, stream.json()["code"], stream.headers["Allow"]) == (405, "method_not_allowed", "POST")
    assert (foreign.status_code, foreign.json()["code"]) == (400, "bad_request")
    assert (text.status_code, text.json()["code"]) == (400, "bad_request")
    assert (large.status_code, large.json()["code"]) == (413, "payload_too_large")
    assert _count(mcp_server) == before


def test_concurrent_tool_calls_all_answer_and_return_their_connections(mcp_server: LiveServer) -> None:
    # 12 clients x 5 calls at once, more than the server's 8 threads and 10 pooled connections:
    # each call must get a connection and give it back (a leak would time out at the pool).
    import threading

    headers = {
        "Authorization": f"Bearer {MASTER_TOKEN}",
        "X-Soma-Tenant": "busy",
        "Accept": "application/json, text/event-stream",
    }
    barrier = threading.Barrier(12)
    outcomes: list[tuple[int, bool]] = []

    def run(index: int) -> None:
        with httpx.Client(base_url=mcp_server.url, headers=headers, timeout=60) as client:
            barrier.wait()
            for call in range(5):
                tool = ("add_memory", {"payload": {"content": f"worker {index} call {call}"}})
                if call % 2:
                    tool = ("search_memories", {"query": f"worker {index}", "mode": "keyword"})
                message = {"jsonrpc": "2.0", "id": call, "method": "tools/call"}
                response = client.post("/mcp", json={**message, "params": {"name": tool[0], "arguments": tool[1]}})
                outcomes.append((response.status_code, response.json()["result"].get("isError", False)))

    threads = [threading.Thread(target=run, args=(i,)) for i in range(12)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)

    assert outcomes == [(200, False)] * 60
    assert _count(mcp_server, "busy") == 12 * 3
