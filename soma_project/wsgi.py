"""The WSGI application of the embedded default (waitress): /mcp to the MCP server, the rest to Django."""

from __future__ import annotations

import os
import threading
from collections.abc import Iterable
from typing import Any

from django.core.handlers.wsgi import WSGIHandler
from django.core.wsgi import get_wsgi_application

from soma_project.agents import is_mcp_path

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "soma_project.settings")


class SomaWSGI:
    def __init__(self, django_app: WSGIHandler) -> None:
        self.django_app = django_app
        self._mcp: Any = None
        self._lock = threading.Lock()

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "")
        if is_mcp_path(path):
            return self._mcp_app()(environ, start_response)
        return self.django_app(environ, start_response)

    def _mcp_app(self) -> Any:
        # Built on first use: its event loop thread and the tools' imports cost nothing until then.
        with self._lock:
            if self._mcp is None:
                from soma_project.agents.server import McpWsgi, mcp_app

                self._mcp = McpWsgi(mcp_app())
            return self._mcp

    def close(self) -> None:
        with self._lock:
            if self._mcp is not None:
                self._mcp.close()
                self._mcp = None


application = SomaWSGI(get_wsgi_application())
