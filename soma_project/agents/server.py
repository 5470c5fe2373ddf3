"""/mcp: the SDK's streamable HTTP transport behind our bearer authentication, for ASGI and WSGI.

Stateless and answering with JSON: every POST carries its own token and gets its whole answer
in one response, so any worker (or pod) can serve any request, nothing is kept between
requests, and no long-lived stream holds one of the embedded server's few request threads.

- ASGI (gunicorn's uvicorn workers): `soma_project.asgi` sends /mcp here and runs the SDK's
  session manager in the ASGI lifespan.
- WSGI (the embedded default's waitress): `McpWsgi` runs the same ASGI app on one event loop
  thread of its own through a2wsgi's ASGI-to-WSGI adapter.
"""

from __future__ import annotations

import asyncio
import functools
import json
import logging
import threading
from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager
from typing import Any

import anyio
import anyio.to_thread
from django.conf import settings
from django.db import DatabaseError, connections
from django.http.request import split_domain_port, validate_host
from mcp.server.mcpserver import MCPServer
from mcp.server.streamable_http_manager import StreamableHTTPSessionManager
from mcp.server.transport_security import TransportSecuritySettings

from core.errors import ErrorCode, ServiceError, code_for_status, error_body
from core.tenancy import TENANT_HEADER
from soma_project.agents import MCP_PATH
from soma_project.agents.rest import CLIENT_ADDR_HEADER
from soma_project.agents.tools import build_tools
from soma_project.auth import bearer_token, principal_authenticate

logger = logging.getLogger("soma.mcp")

INSTRUCTIONS = (
    "Long-term memory. Search it (search_memories) before answering questions about the user, "
    "their projects or earlier conversations; store durable facts and preferences (add_memory) "
    "when you learn them; correct a wrong memory with update_memory instead of adding a "
    "contradicting one. Memories can be linked (link_memories) and followed (graph_neighbors)."
)


def _refusal(headers: dict[str, str]) -> tuple[int, dict[str, Any]] | None:
    """Why this request may not reach the MCP server, by the REST rules; None when it may."""
    domain, _ = split_domain_port(headers.get("host", ""))
    if not domain or not validate_host(domain, settings.ALLOWED_HOSTS):
        return 400, error_body("Invalid Host header.", ErrorCode.BAD_REQUEST)
    token = bearer_token(headers.get("authorization"))
    if token is None:
        return 401, error_body("Missing or invalid bearer token.", ErrorCode.UNAUTHORIZED)
    try:
        principal = principal_authenticate(token=token, requested_tenant=headers.get(TENANT_HEADER.lower()))
    except ServiceError as exc:
        return exc.status_code, error_body(exc.detail, exc.code)
    except DatabaseError:
        return 503, error_body("A dependency is unavailable.", ErrorCode.SERVICE_UNAVAILABLE)
    finally:
        connections.close_all()  # this worker thread is no request: give the connection back
    if principal is None:
        return 401, error_body("Missing or invalid bearer token.", ErrorCode.UNAUTHORIZED)
    return None


class McpApp:
    """The ASGI app for /mcp."""

    def __init__(self) -> None:
        self.server = MCPServer(
            name="somafractalmemory",
            title="SomaFractalMemory",
            version=settings.SOMA_VERSION,
            instructions=INSTRUCTIONS,
            tools=build_tools(),
            subscriptions=False,
        )
        # Hosts are checked against ALLOWED_HOSTS (in _refusal), as Django checks them for REST.
        self.server.streamable_http_app(
            streamable_http_path=MCP_PATH,
            stateless_http=True,
            json_response=True,
            max_request_body_size=settings.SOMA_MAX_BODY_BYTES,
            transport_security=TransportSecuritySettings(enable_dns_rebinding_protection=False),
        )
        self.sessions: StreamableHTTPSessionManager = self.server.session_manager

    @asynccontextmanager
    async def running(self) -> AsyncIterator[None]:
        # Tool calls run on anyio's worker threads, each holding a pooled database connection
        # while it runs: no more of them than the process's request threads.
        anyio.to_thread.current_default_thread_limiter().total_tokens = settings.SOMA_THREADS
        async with self.sessions.run():
            yield

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["method"] != "POST":
            # Stateless: no server-to-client stream to GET and no session to DELETE. The
            # protocol allows a 405 for both.
            await _respond(send, 405, error_body("/mcp takes POST only.", ErrorCode.METHOD_NOT_ALLOWED), allow=True)
            return
        headers = {name.decode("latin-1").lower(): value.decode("latin-1") for name, value in scope["headers"]}
        refusal = await anyio.to_thread.run_sync(_refusal, headers)
        if refusal is not None:
            await _respond(send, *refusal)
            return
        # The tool's REST request gets the caller's address (REMOTE_ADDR), as any request has;
        # a header of that name sent by the caller is dropped, so it cannot be forged.
        client = scope.get("client") or ("127.0.0.1", 0)
        forwarded = [(name, value) for name, value in scope["headers"] if name.lower() != CLIENT_ADDR_HEADER]
        scope = {**scope, "headers": [*forwarded, (CLIENT_ADDR_HEADER, str(client[0]).encode())]}
        await self.sessions.handle_request(scope, receive, _json_errors(send))


async def _respond(send: Any, status: int, body: dict[str, Any], *, allow: bool = False) -> None:
    headers = [(b"content-type", b"application/json")]
    if status == 401:
        headers.append((b"www-authenticate", b'Bearer realm="soma"'))
    if allow:
        headers.append((b"allow", b"POST"))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": json.dumps(body).encode()})


def _json_errors(send: Any) -> Any:
    """The SDK answers a few transport errors (a wrong Content-Type, an oversized body) in plain
    text: give those the API's error shape, as every other refusal has."""
    refused: dict[str, Any] = {}

    async def wrapped(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start" and message["status"] >= 400:
            content_type = dict(message.get("headers", [])).get(b"content-type", b"")
            if not content_type.startswith(b"application/json"):
                refused.update(status=message["status"], body=b"")
                return
        if refused and message["type"] == "http.response.body":
            refused["body"] += message.get("body", b"")
            if not message.get("more_body"):
                detail = refused["body"].decode(errors="replace").strip() or "Refused."
                await _respond(send, refused["status"], error_body(detail, code_for_status(refused["status"])))
            return
        await send(message)

    return wrapped


_HOP_BY_HOP = frozenset({"connection", "keep-alive", "transfer-encoding", "upgrade", "te", "trailer"})


class McpWsgi:
    """The same app for a WSGI server: an event loop thread of its own, running the session manager."""

    def __init__(self, app: McpApp) -> None:
        from a2wsgi import ASGIMiddleware

        self.loop = asyncio.new_event_loop()
        self._stop = asyncio.Event()
        started = threading.Event()

        async def serve() -> None:
            async with app.running():
                started.set()
                await self._stop.wait()

        self._thread = threading.Thread(target=self.loop.run_forever, name="mcp-loop", daemon=True)
        self._thread.start()
        self._served = asyncio.run_coroutine_threadsafe(serve(), self.loop)
        if not started.wait(timeout=30):
            raise RuntimeError("the MCP session manager did not start")
        self._wsgi = ASGIMiddleware(app, loop=self.loop)  # type: ignore[arg-type]

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        def without_hop_by_hop(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
            # PEP 3333 forbids them to an application (waitress raises); the server sets its own.
            kept = [(name, value) for name, value in headers if name.lower() not in _HOP_BY_HOP]
            return start_response(status, kept, exc_info)

        return self._wsgi(environ, without_hop_by_hop)  # type: ignore[arg-type]

    def close(self) -> None:
        self.loop.call_soon_threadsafe(self._stop.set)
        self._served.result(timeout=10)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(timeout=10)


_app_lock = threading.Lock()


@functools.cache
def _built_app() -> McpApp:
    return McpApp()


def mcp_app() -> McpApp:
    """One per process, built on first use (the tools import every app's schemas)."""
    with _app_lock:  # functools.cache alone lets two racing first calls each build one
        return _built_app()
