"""`soma-mcp-bridge`: MCP over stdio for hosts that only spawn processes, relayed to a running server's /mcp.

Both ends are the MCP SDK's own transports (its stdio server transport towards the host, its
streamable HTTP client transport towards the server); the bridge only moves messages between
them and adds the bearer token, the tenant and the protocol version header that an HTTP
request carries and a stdio message cannot. Needs the `mcp` extra:
`pip install './client[mcp]'`.

    SOMA_URL=http://127.0.0.1:9595 SOMA_API_TOKEN=... soma-mcp-bridge

A setting that cannot work (no token, a token file that cannot be read, a token or tenant no
HTTP header can carry, a malformed URL) is one line on stderr and exit status 2, before
anything starts. Once running, a message the server could not be reached for, or that it
refused (a wrong token is a 401), is answered to the host with a JSON-RPC error saying so.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any, NoReturn

from somafractalmemory_client.calls import check_header
from somafractalmemory_client.errors import InvalidArgument

PROTOCOL_VERSION_HEADER = "MCP-Protocol-Version"
PROTOCOL_VERSION_META_KEY = "io.modelcontextprotocol/protocolVersion"
NEEDS_MCP = "needs the MCP SDK: pip install 'somafractalmemory-client[mcp]'"
CONFIGURATION_ERROR = 2  # exit status for a setting that cannot work
# JSON-RPC error codes of the answers the bridge makes up (the SDK's CONNECTION_CLOSED and INTERNAL_ERROR).
UNREACHABLE = -32000
REFUSED = -32603


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


def _say(message: str) -> None:
    print(f"soma-mcp-bridge: {message}", file=sys.stderr, flush=True)


def _refuse(message: str) -> NoReturn:
    _say(message)
    sys.exit(CONFIGURATION_ERROR)


def _shorten(text: str, limit: int = 200) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[:limit] + "..."


def refusal_message(url: str, status: int, body: bytes) -> str | None:
    """What to tell the host about a POST the server answered `status` >= 400; None when the
    body is already a JSON-RPC error (the SDK passes that on as it is)."""
    try:
        parsed: Any = json.loads(body)
    except (ValueError, RecursionError):
        parsed = None
    if isinstance(parsed, dict) and parsed.get("jsonrpc") == "2.0" and isinstance(parsed.get("error"), dict):
        return None
    if isinstance(parsed, dict) and ("code" in parsed or "detail" in parsed):
        code, detail = str(parsed.get("code", "error")), _shorten(str(parsed.get("detail", "")))
    else:
        code, detail = "error", _shorten(body.decode("utf-8", "replace")) or "(no body)"
    if status == 401:
        return (
            f"401 unauthorized: {url} refused the token ({detail}); "
            "check the token (--token, SOMA_API_TOKEN or SOMA_API_TOKEN_FILE)"
        )
    return f"{status} {code} from {url}: {detail}"


def jsonrpc_error_body(code: int, message: str, data: dict[str, Any] | None = None) -> bytes:
    error: dict[str, Any] = {"code": code, "message": message}
    if data:
        error["data"] = data
    # id null: the SDK answers the request it sent with this error, under that request's id.
    return json.dumps({"jsonrpc": "2.0", "id": None, "error": error}).encode()


def explaining_client(url: str, **kwargs: Any) -> Any:
    """An `httpx2.AsyncClient` for the SDK's transport whose POSTs, when the server cannot be
    reached or refuses them, answer a JSON-RPC error that says so: the SDK hands that to the
    host as the answer of its request. (The SDK itself would end the bridge with a traceback
    on a refused connection, and say only "Server returned an error response" for a 401.)"""
    import httpx2

    class ExplainingClient(httpx2.AsyncClient):
        async def send(self, request: httpx2.Request, *args: Any, **options: Any) -> httpx2.Response:
            if request.method != "POST":
                return await super().send(request, *args, **options)
            try:
                response = await super().send(request, *args, **options)
            except httpx2.TransportError as exc:
                reason = str(exc) or type(exc).__name__
                if isinstance(exc, httpx2.ConnectError | httpx2.ConnectTimeout):
                    message = f"could not reach {url}: {reason}"
                else:
                    message = f"no answer from {url}: {reason}"
                _say(message)
                return self._made_up(request, 502, jsonrpc_error_body(UNREACHABLE, message))
            if response.status_code < 400:
                return response
            try:
                body = await response.aread()
            finally:
                await response.aclose()
            refusal = refusal_message(url, response.status_code, body)
            if refusal is None:
                return self._made_up(request, response.status_code, body)
            _say(refusal)
            data = {"status": response.status_code}
            return self._made_up(request, response.status_code, jsonrpc_error_body(REFUSED, refusal, data))

        @staticmethod
        def _made_up(request: httpx2.Request, status: int, body: bytes) -> httpx2.Response:
            headers = {"content-type": "application/json"}
            return httpx2.Response(status, headers=headers, content=body, request=request)

    return ExplainingClient(**kwargs)


async def relay(url: str, headers: dict[str, str]) -> None:
    import anyio
    import httpx2
    from mcp.client.streamable_http import streamable_http_client
    from mcp.server.stdio import stdio_server
    from mcp.shared.message import ClientMessageMetadata, SessionMessage

    versions = _Versions()
    http = explaining_client(url, headers=headers, timeout=httpx2.Timeout(30.0, read=300.0))
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


def _settings(args: argparse.Namespace) -> tuple[str, dict[str, str]]:
    """The /mcp URL and the headers, or exit 2 with one line saying what is wrong."""
    token = args.token
    if args.token_file:
        try:
            token = Path(args.token_file).read_text().strip()
        except (OSError, UnicodeDecodeError) as exc:
            reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
            _refuse(f"cannot read the token file {args.token_file}: {reason}")
    if not token:
        _refuse("give a token with --token, SOMA_API_TOKEN or SOMA_API_TOKEN_FILE")
    try:
        headers = {"Authorization": f"Bearer {check_header('token', token)}"}
        if args.tenant:
            headers["X-Soma-Tenant"] = check_header("tenant (--tenant, SOMA_TENANT)", args.tenant)
    except InvalidArgument as exc:
        _refuse(str(exc))
    import httpx2

    url = mcp_url(args.url)
    try:
        parsed = httpx2.URL(url)
    except (httpx2.InvalidURL, TypeError, ValueError) as exc:
        _refuse(f"--url / SOMA_URL {args.url!r} is not a URL: {exc}")
    if parsed.scheme not in ("http", "https") or not parsed.host:
        _refuse(f"--url / SOMA_URL {args.url!r} is not an http:// or https:// URL with a host")
    return url, headers


def _leaves(exc: BaseException) -> list[BaseException]:
    inner = getattr(exc, "exceptions", None)  # an exception group (anyio's task groups raise them)
    if isinstance(inner, list | tuple):
        return [leaf for each in inner for leaf in _leaves(each)]
    return [exc]


def main(argv: list[str] | None = None) -> None:
    args = _arguments(argv)
    try:
        import httpx2  # noqa: F401
    except ImportError:  # pragma: no cover - the extra is missing
        _refuse(NEEDS_MCP)
    url, headers = _settings(args)  # before the SDK is imported: a bad setting is said at once
    try:
        import anyio
        import mcp  # noqa: F401
    except ImportError:  # pragma: no cover - the extra is missing
        _refuse(NEEDS_MCP)
    try:
        anyio.run(relay, url, headers)
    except KeyboardInterrupt:
        sys.exit(130)
    except Exception as exc:  # what the relay did not expect: one line per cause, no traceback
        for leaf in _leaves(exc):
            _say(f"stopped: {type(leaf).__name__}: {leaf}")
        sys.exit(1)


if __name__ == "__main__":
    main()
