"""`soma-mcp-bridge`: MCP over stdio for hosts that only spawn processes, relayed to a running server's /mcp.

Both ends are the MCP SDK's own transports (its stdio server transport towards the host, its
streamable HTTP client transport towards the server); the bridge only moves messages between
them and adds the bearer token, the tenant and the protocol version header that an HTTP
request carries and a stdio message cannot. Needs the `mcp` extra:
`pip install './client[mcp]'`.

    SOMA_URL=http://127.0.0.1:9595 SOMA_API_TOKEN=... soma-mcp-bridge
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Any

PROTOCOL_VERSION_HEADER = "MCP-Protocol-Version"
PROTOCOL_VERSION_META_KEY = "io.modelcontextprotocol/protocolVersion"


def _arguments(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="soma-mcp-bridge", description=__doc__.split("\n\n")[0])
    parser.add_argument("--url", default=os.environ.get("SOMA_URL", "http://127.0.0.1:9595"), help="the server")
    parser.add_argument("--token", default=os.environ.get("SOMA_API_TOKEN"), help="bearer token (SOMA_API_TOKEN)")
    parser.add_argument(
        "--token-file", default=os.environ.get("SOMA_API_TOKEN_FILE"), help="file holding it (SOMA_API_TOKEN_FILE)"
    )
    parser.add_argument("--tenant", default=os.environ.get("SOMA_TENANT"), help="X-Soma-Tenant, for the master token")
    return parser.parse_args(argv)


def mcp_url(url: str) -> str:
    url = url.rstrip("/")
    return url if url.endswith("/mcp") else url + "/mcp"


class _Versions:
    """The protocol version in force, learnt from the messages going by, for the HTTP header."""

    def __init__(self) -> None:
        self.current: str | None = None
        self._initialize_ids: set[Any] = set()

    def outgoing(self, message: Any) -> str | None:
        root = getattr(message, "root", message)
        method = getattr(root, "method", None)
        if method == "initialize":
            self._initialize_ids.add(getattr(root, "id", None))
            self.current = None
            return None
        meta = ((getattr(root, "params", None) or {}) or {}).get("_meta") or {}
        return str(meta.get(PROTOCOL_VERSION_META_KEY) or "") or self.current

    def incoming(self, message: Any) -> None:
        root = getattr(message, "root", message)
        if getattr(root, "id", None) in self._initialize_ids:
            self._initialize_ids.discard(root.id)
            result = getattr(root, "result", None) or {}
            if isinstance(result, dict) and result.get("protocolVersion"):
                self.current = str(result["protocolVersion"])


async def relay(url: str, headers: dict[str, str]) -> None:
    import anyio
    import httpx2
    from mcp.client.streamable_http import streamable_http_client
    from mcp.server.stdio import stdio_server
    from mcp.shared.message import ClientMessageMetadata, SessionMessage

    versions = _Versions()
    http = httpx2.AsyncClient(headers=headers, timeout=httpx2.Timeout(30.0, read=300.0))
    async with (
        http,
        stdio_server() as (from_host, to_host),
        streamable_http_client(url, http_client=http, terminate_on_close=False) as (from_server, to_server),
        # Closing the two write ends lets each transport's writer finish when we are done.
        to_host,
        to_server,
        anyio.create_task_group() as tasks,
    ):

        async def host_to_server() -> None:
            async for item in from_host:
                if isinstance(item, Exception):
                    print(f"soma-mcp-bridge: unreadable message from the host: {item}", file=sys.stderr)
                    continue
                version = versions.outgoing(item.message)
                metadata = ClientMessageMetadata(headers={PROTOCOL_VERSION_HEADER: version}) if version else None
                await to_server.send(SessionMessage(item.message, metadata=metadata))
            tasks.cancel_scope.cancel()  # the host closed stdin: we are done

        async def server_to_host() -> None:
            async for item in from_server:
                if isinstance(item, Exception):
                    print(f"soma-mcp-bridge: {item}", file=sys.stderr)
                    continue
                versions.incoming(item.message)
                await to_host.send(SessionMessage(item.message))

        tasks.start_soon(host_to_server)
        tasks.start_soon(server_to_host)


def main(argv: list[str] | None = None) -> None:
    args = _arguments(argv)
    token = args.token
    if args.token_file:
        token = Path(args.token_file).read_text().strip()
    if not token:
        sys.exit("soma-mcp-bridge: give a token with --token, SOMA_API_TOKEN or SOMA_API_TOKEN_FILE")
    headers = {"Authorization": f"Bearer {token}"}
    if args.tenant:
        headers["X-Soma-Tenant"] = args.tenant
    try:
        import anyio
    except ImportError:  # pragma: no cover - the extra is missing
        sys.exit("soma-mcp-bridge needs the MCP SDK: pip install 'somafractalmemory-client[mcp]'")
    anyio.run(relay, mcp_url(args.url), headers)


if __name__ == "__main__":
    main()
