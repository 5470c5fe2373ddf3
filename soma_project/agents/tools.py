"""The MCP tools: each one names a REST operation, publishes that operation's own schemas, and runs it.

Input schemas come from the REST input schemas (body or query), output schemas from the REST
output schemas, so a field added to an endpoint appears in its tool. Arguments are passed to
the endpoint untouched: its validation decides, and a refusal comes back as a tool error with
the endpoint's status, code and detail (naming the field), having stored nothing.
"""

from __future__ import annotations

import inspect
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

from mcp.server.mcpserver import Context
from mcp.server.mcpserver.tools import Tool
from mcp.server.mcpserver.utilities.func_metadata import ArgModelBase, FuncMetadata
from mcp_types import CallToolResult, TextContent, ToolAnnotations
from pydantic import BaseModel, ConfigDict

from core.errors import ErrorCode, error_body
from graph.schemas import LinkIn, LinkSavedOut, NeighborsOut, NeighborsQuery, PathOut, PathQuery
from memories import schemas as memory_schemas
from memories.api import HistoryQuery, ListQuery, RefQuery
from soma_project.agents.rest import rest_call
from vectors.schemas import FILTERS_HELP, SearchIn, SearchOut

REF_SCHEMA = {"type": "string", "description": "The memory's id (UUID) or its coordinate, e.g. '1.0,2.0,3.0'"}
FILTERS_SCHEMA = {"type": "object", "description": FILTERS_HELP}


def _writes(*, destructive: bool, idempotent: bool) -> ToolAnnotations:
    return ToolAnnotations(
        read_only_hint=False, destructive_hint=destructive, idempotent_hint=idempotent, open_world_hint=False
    )


# What a tool does to what is stored, for the host's confirmations (its title is added per tool).
READS = ToolAnnotations(read_only_hint=True, open_world_hint=False)
ADDS = _writes(destructive=False, idempotent=False)
CHANGES = _writes(destructive=True, idempotent=True)
LINKS = _writes(destructive=False, idempotent=True)


@dataclass(frozen=True)
class Operation:
    name: str
    method: str
    path: str  # "{ref}" is filled from the `ref` argument
    description: str
    annotations: ToolAnnotations
    output: type[BaseModel]
    body: type[BaseModel] | None = None
    query: type[BaseModel] | None = None
    # For an operation with a body: the arguments that go to the query string instead.
    query_fields: frozenset[str] = field(default_factory=frozenset)

    @property
    def has_ref(self) -> bool:
        return "{ref}" in self.path

    def input_schema(self) -> dict[str, Any]:
        properties: dict[str, Any] = {}
        required: list[str] = []
        defs: dict[str, Any] = {}
        if self.has_ref:
            properties["ref"] = REF_SCHEMA
            required.append("ref")
        for model, only in ((self.query, self.query_fields if self.body else None), (self.body, None)):
            if model is None:
                continue
            schema = model.model_json_schema()
            defs.update(schema.get("$defs", {}))
            for name, prop in schema.get("properties", {}).items():
                if only is not None and name not in only:
                    continue
                # Filters travel as JSON text in a query string; a tool takes the object itself.
                properties[name] = FILTERS_SCHEMA if name == "filters" else _untitled(prop)
            required += [name for name in schema.get("required", []) if only is None or name in only]
        result: dict[str, Any] = {"type": "object", "properties": properties, "required": required}
        if defs:
            result["$defs"] = defs
        return result

    def output_schema(self) -> dict[str, Any]:
        return self.output.model_json_schema(mode="serialization")

    def split(self, arguments: dict[str, Any]) -> tuple[str, dict[str, Any], dict[str, Any] | None]:
        """The path, query parameters and body for these arguments."""
        arguments = dict(arguments)
        path = self.path
        if self.has_ref:
            ref = arguments.pop("ref", None)
            # Percent-encoded, as a client sends it: one path segment, so the HTTP layer's rules
            # for paths (an encoded "/" is no reference) hold for tools as for REST.
            segment = quote(str(ref), safe="", errors="surrogatepass") if ref is not None else ""
            path = path.replace("{ref}", segment)
        if self.body is None:
            return path, arguments, None
        query = {name: arguments.pop(name) for name in self.query_fields if name in arguments}
        return path, query, arguments


def _untitled(prop: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in prop.items() if key != "title"}


OPERATIONS: list[Operation] = []


def operation(
    route: str,
    output: type[BaseModel],
    effect: ToolAnnotations,
    *,
    body: type[BaseModel] | None = None,
    query: type[BaseModel] | None = None,
    query_fields: frozenset[str] = frozenset(),
) -> Callable[[Callable[[], None]], Operation]:
    """Declares the tool named like the function it decorates, on the REST operation `route`
    ("METHOD /path"): the docstring's first line is its title, the rest its description."""
    method, path = route.split(" ", 1)

    def declare(tool: Callable[[], None]) -> Operation:
        title, _, text = inspect.cleandoc(tool.__doc__ or "").partition("\n")
        declared = Operation(
            name=tool.__name__,
            method=method,
            path=path,
            description=" ".join(text.split()),
            annotations=effect.model_copy(update={"title": title}),
            output=output,
            body=body,
            query=query,
            query_fields=query_fields,
        )
        OPERATIONS.append(declared)
        return declared

    return declare


@operation("POST /memories", memory_schemas.MemoryCreatedOut, ADDS, body=memory_schemas.MemoryIn)
def add_memory() -> None:
    """Store a memory

    Store something worth remembering later: a fact, a preference, an event, a document chunk.
    `payload` is a JSON object (put the words in payload.content, or give `text` to say exactly
    what is embedded for semantic search); `metadata` holds keys you will filter on later
    (user_id, tags, ...). `memory_type` is 'episodic' (an event, default) or 'semantic' (a
    general fact). Giving a `coord` that already holds a memory replaces that memory.
    Returns the stored memory with its id.
    """


@operation("POST /memories/search", SearchOut, READS, body=SearchIn)
def search_memories() -> None:
    """Search memories

    Find stored memories relevant to a question or topic, best first. `query` is natural
    language. `mode`: 'vector' (by meaning, default), 'keyword' (exact words, names, ids) or
    'hybrid' (both; best when unsure). Narrow with `filters` over payload/metadata keys, e.g.
    {"user_id": "u1", "tags": {"in": ["work"]}}, and with `memory_type` or `namespace`.
    `expand_hops` 1-2 adds memories linked to the hits. Use this before answering from memory.
    """


@operation("GET /memories/{ref}", memory_schemas.MemoryEnvelopeOut, READS, query=RefQuery)
def get_memory() -> None:
    """Get a memory

    Read one memory by `ref`: its id (UUID) or its coordinate. Fails with memory_not_found if absent.
    """


@operation(
    "PATCH /memories/{ref}",
    memory_schemas.MemoryEnvelopeOut,
    CHANGES,
    body=memory_schemas.MemoryPatchIn,
    query=RefQuery,
    query_fields=frozenset({"namespace"}),
)
def update_memory() -> None:
    """Update a memory

    Change a stored memory named by `ref` (id or coordinate): give only the fields to change
    (`payload`, `text`, `metadata`, `importance`, `memory_type`); each given field replaces the
    old value. The memory is re-embedded when its text changes. Use it to correct a memory
    rather than adding a contradicting one.
    """


@operation("DELETE /memories/{ref}", memory_schemas.MemoryDeletedOut, CHANGES, query=RefQuery)
def delete_memory() -> None:
    """Delete a memory

    Forget one memory named by `ref` (id or coordinate), with its vector and its links.
    Only when the user asks to forget it, or it is wrong and should not be corrected instead.
    """


@operation("GET /memories", memory_schemas.MemoryListOut, READS, query=ListQuery)
def list_memories() -> None:
    """List memories

    Page through stored memories, newest first, optionally narrowed by `memory_type` and
    `filters` (same grammar as search_memories). Not ranked: to find memories about
    something, use search_memories. Pass `next_cursor` back as `cursor` for the next page.
    """


@operation("GET /memories/{ref}/history", memory_schemas.HistoryOut, READS, query=HistoryQuery)
def memory_history() -> None:
    """History of a memory

    How a memory named by `ref` (id or coordinate) changed: its versions newest first, each with
    the event (created, updated, deleted, restored, expired, forgotten), when, who, the changed
    fields and the memory as it was. A deleted memory's history stays readable by its id for the
    retention period. Pass `next_cursor` back as `cursor` for older versions.
    """


@operation("POST /graph/link", LinkSavedOut, LINKS, body=LinkIn)
def link_memories() -> None:
    """Link two memories

    Record that two memories are related: from (`from_id` or `from_coord`) to (`to_id` or
    `to_coord`), with a `link_type` such as 'related' (default), 'causes', 'part_of',
    'supersedes', and a `strength`. Coordinates may be linked before anything is stored at them.
    Linking the same pair and type again updates that link.
    """


@operation("GET /graph/neighbors", NeighborsOut, READS, query=NeighborsQuery)
def graph_neighbors() -> None:
    """Linked memories

    The memories linked to one memory (`id` or `coord`), up to `k_hop` links away, nearest
    first, each with its link type and strength (`memory` is null for a linked coordinate where
    nothing is stored yet). `direction`: 'out' (default), 'in' or 'both'.
    """


@operation("GET /graph/path", PathOut, READS, query=PathQuery)
def graph_shortest_path() -> None:
    """How two memories connect

    The shortest chain of links from one memory (`from_id` or `from_coord`) to another
    (`to_id` or `to_coord`), at most `max_length` links: `found`, the memories on the way and
    the link types between them.
    """


class _Arguments(ArgModelBase):
    """Takes the arguments as sent: the REST endpoint validates them, with its own codes."""

    model_config = ConfigDict(extra="allow", arbitrary_types_allowed=True)

    def model_dump_one_level(self) -> dict[str, Any]:
        return {"arguments": dict(self.model_extra or {})}


def _decode_json_strings(arguments: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    """Some hosts send object arguments as JSON text; read those back, as the SDK does for its own tools."""
    properties = schema.get("properties", {})
    decoded = dict(arguments)
    for name, value in arguments.items():
        if isinstance(value, str) and properties.get(name, {}).get("type") == "object":
            try:
                parsed = json.loads(value)
            except ValueError:
                continue
            if isinstance(parsed, dict):
                decoded[name] = parsed
    return decoded


def error_result(status: int, body: Any) -> CallToolResult:
    """A refusal as the model reads it: the REST code, status and detail, as JSON text."""
    if not isinstance(body, dict):
        body = error_body(body, ErrorCode.INTERNAL_ERROR)
    detail = body.get("detail")
    if isinstance(detail, list):  # validation errors: name the argument, not where REST read it from
        detail = [
            {**item, "loc": [part for part in item.get("loc", []) if part not in ("body", "query", "path")]}
            if isinstance(item, dict)
            else item
            for item in detail
        ]
    error = {"code": body.get("code", ErrorCode.INTERNAL_ERROR), "status": status, "detail": detail}
    return CallToolResult(content=[TextContent(type="text", text=json.dumps(error))], is_error=True)


def _handler(operation: Operation, schema: dict[str, Any]) -> Callable[..., CallToolResult]:
    def run(arguments: dict[str, Any], ctx: Context) -> CallToolResult:
        path, query, body = operation.split(_decode_json_strings(arguments, schema))
        headers = {name.lower(): value for name, value in (ctx.headers or {}).items()}
        answer = rest_call(method=operation.method, path=path, headers=headers, query=query, body=body)
        if not answer.ok:
            return error_result(answer.status, answer.body)
        text = json.dumps(answer.body)
        return CallToolResult(content=[TextContent(type="text", text=text)], structured_content=answer.body)

    run.__name__ = operation.name
    return run


def build_tools() -> list[Tool]:
    tools = []
    for operation in OPERATIONS:
        schema = operation.input_schema()
        tools.append(
            Tool(
                fn=_handler(operation, schema),
                name=operation.name,
                title=operation.annotations.title,
                description=operation.description,
                parameters=schema,
                fn_metadata=FuncMetadata(arg_model=_Arguments, output_schema=operation.output_schema()),
                is_async=False,  # the SDK runs it on a worker thread, as Django's ORM needs
                context_kwarg="ctx",
                annotations=operation.annotations,
            )
        )
    return tools
