"""Agents plug in: the Model Context Protocol at /mcp (streamable HTTP), built on the `mcp` SDK.

Every tool is one REST operation run in-process through Django's own handler (`rest.py`):
the same authentication, tenant rules, throttle, validation, services and error codes, and
the same answer, with nothing implemented twice.
"""

MCP_PATH = "/mcp"


def is_mcp_path(path: str) -> bool:
    return path == MCP_PATH or path.startswith(MCP_PATH + "/")
