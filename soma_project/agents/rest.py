"""One REST operation run in-process: a WSGI environ handed to Django's own handler.

The request goes through the whole middleware chain and the API exactly as it would over
HTTP (auth, tenant rules, throttle, body limits, validation, metrics), so a tool can never
drift from the endpoint it names. Django's request_started/request_finished signals run on
the calling thread, as with any request, so the pooled database connection is returned.
"""

from __future__ import annotations

import io
import json
import sys
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote_to_bytes, urlencode

from django.core.handlers.wsgi import WSGIHandler

from core.errors import ErrorCode, error_body

# The headers a tool call carries over from the MCP request that brought it.
FORWARDED_HEADERS = ("authorization", "x-soma-tenant", "host", "x-forwarded-for", "idempotency-key")

# Set by the /mcp gate (any such header from the caller is dropped first): the caller's address.
CLIENT_ADDR_HEADER = b"x-soma-client-addr"

_handler: WSGIHandler | None = None
_handler_lock = threading.Lock()


@dataclass(frozen=True)
class RestAnswer:
    status: int
    body: Any
    headers: dict[str, str] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.status < 400


def _django() -> WSGIHandler:
    global _handler
    if _handler is None:
        with _handler_lock:
            if _handler is None:
                _handler = WSGIHandler()  # loads the middleware chain once
    return _handler


def query_string(params: Mapping[str, Any]) -> str:
    """Query parameters as REST reads them: JSON text for objects, true/false for booleans."""
    pairs: list[tuple[str, str]] = []
    for name, value in params.items():
        if value is None:
            continue
        if isinstance(value, bool):
            pairs.append((name, "true" if value else "false"))
        elif isinstance(value, dict | list):
            pairs.append((name, json.dumps(value)))
        else:
            pairs.append((name, str(value)))
    return urlencode(pairs)


def rest_call(
    *,
    method: str,
    path: str,
    headers: Mapping[str, str],
    query: Mapping[str, Any] | None = None,
    body: Any = None,
) -> RestAnswer:
    data = b"" if body is None else json.dumps(body).encode()
    environ: dict[str, Any] = {
        "REQUEST_METHOD": method,
        "SCRIPT_NAME": "",
        # `path` is percent-encoded, as sent over HTTP. As a WSGI server gives it (PEP 3333):
        # the request target as sent, and the decoded path's bytes, one character per byte.
        "REQUEST_URI": path,
        "PATH_INFO": unquote_to_bytes(path).decode("latin-1"),
        "QUERY_STRING": query_string(query or {}),
        "SERVER_NAME": "127.0.0.1",
        "SERVER_PORT": "9595",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "REMOTE_ADDR": headers.get(CLIENT_ADDR_HEADER.decode(), "127.0.0.1"),
        "CONTENT_TYPE": "application/json",
        "CONTENT_LENGTH": str(len(data)),
        "wsgi.version": (1, 0),
        "wsgi.url_scheme": "http",
        "wsgi.input": io.BytesIO(data),
        "wsgi.errors": sys.stderr,
        "wsgi.multithread": True,
        "wsgi.multiprocess": True,
        "wsgi.run_once": False,
    }
    for name in FORWARDED_HEADERS:
        value = headers.get(name)
        if value is not None:
            environ["HTTP_" + name.upper().replace("-", "_")] = value
    environ.setdefault("HTTP_HOST", "127.0.0.1")
    started: dict[str, Any] = {}

    def start_response(status: str, response_headers: list[tuple[str, str]], exc_info: Any = None) -> None:
        started["status"] = int(status.split(" ", 1)[0])
        started["headers"] = {name.lower(): value for name, value in response_headers}

    response = _django()(environ, start_response)  # type: ignore[arg-type]  # it never writes
    try:
        content = b"".join(response)
    finally:
        response.close()  # type: ignore[attr-defined]  # request_finished: the connection goes back to the pool
    try:
        parsed = json.loads(content) if content else None
    except ValueError:
        parsed = error_body(content.decode(errors="replace")[:500], ErrorCode.INTERNAL_ERROR)
    return RestAnswer(status=started["status"], body=parsed, headers=started["headers"])
