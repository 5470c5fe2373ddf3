"""Every REST operation as a `Call`: method, path, parameters and how to read the answer.

The sync and async clients send the same calls; only the sending differs.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Generic, TypedDict, TypeVar
from urllib.parse import quote

from typing_extensions import Unpack

from somafractalmemory_client.models import (
    BatchResult,
    Dedupe,
    Direction,
    ForgetResult,
    Health,
    HistoryPage,
    LinkDeleted,
    LinkPage,
    LinkSaved,
    Liveness,
    Memory,
    MemoryCreated,
    MemoryDeleted,
    MemoryPage,
    MemoryType,
    Neighbors,
    Path,
    Readiness,
    Restored,
    SearchMode,
    SearchResult,
    Stats,
)

T = TypeVar("T")
Coordinate = str | Sequence[float]
# A graph end or memory reference: a UUID (or its text) names a memory by id, anything else is a coordinate.
Ref = uuid.UUID | str | Sequence[float]
# True: a fresh key for this call (the same for its retries); a string: that key; None/False: none.
IdempotencyKey = str | bool | None


@dataclass(frozen=True)
class Call(Generic[T]):
    method: str
    path: str
    parse: Callable[[Any], T]
    params: Mapping[str, Any] | None = None
    body: Any = None
    headers: Mapping[str, str] = field(default_factory=dict)
    # Statuses whose body is an answer, not an error (GET /readyz answers 503 with its checks).
    answers: frozenset[int] = frozenset({200, 201})
    # Whether a 503 is worth retrying (not for a readiness probe, whose 503 is the answer).
    retry_unavailable: bool = True
    # Writes without an idempotency key are not retried after the server may have run them.
    idempotent: bool = True

    def with_idempotency_key(self, key: IdempotencyKey) -> Call[T]:
        if not key:
            return self
        value = uuid.uuid4().hex if key is True else str(key)
        return Call(
            self.method,
            self.path,
            self.parse,
            self.params,
            self.body,
            {**self.headers, "Idempotency-Key": value},
            self.answers,
            self.retry_unavailable,
            True,
        )


class CreateOptions(TypedDict, total=False):
    coord: Coordinate | None
    memory_type: MemoryType
    namespace: str
    text: str | None
    metadata: dict[str, Any]
    importance: float
    pinned: bool
    expires_at: datetime | str | None
    ttl_seconds: int | None
    dedupe: Dedupe


class PatchOptions(TypedDict, total=False):
    payload: dict[str, Any]
    text: str
    metadata: dict[str, Any]
    importance: float
    memory_type: MemoryType
    pinned: bool
    expires_at: datetime | str | None
    ttl_seconds: int | None


class ListOptions(TypedDict, total=False):
    namespace: str
    memory_type: MemoryType | None
    filters: dict[str, Any] | None
    limit: int
    cursor: str | None
    include_expired: bool


class SearchOptions(TypedDict, total=False):
    top_k: int
    offset: int
    memory_type: MemoryType | None
    namespace: str
    filters: dict[str, Any] | None
    mode: SearchMode
    expand_hops: int
    min_score: float | None
    explain: bool
    recency: dict[str, float] | None
    importance_weight: float | None
    reference_time: datetime | str | None


class ForgetOptions(TypedDict, total=False):
    namespace: str
    memory_type: MemoryType | None
    filters: dict[str, Any] | None
    max_age_days: float | None
    max_inactive_days: float | None
    keep_top_n: int | None


def jsonable(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, tuple):
        return [jsonable(item) for item in value]
    if isinstance(value, list):
        return [jsonable(item) for item in value]
    if isinstance(value, dict):
        return {key: jsonable(item) for key, item in value.items()}
    return value


def query_params(params: Mapping[str, Any]) -> dict[str, str]:
    """Query strings as the API reads them: filters as JSON text, booleans as true/false."""
    out: dict[str, str] = {}
    for name, value in params.items():
        if value is None:
            continue
        if isinstance(value, bool):
            out[name] = "true" if value else "false"
        elif isinstance(value, dict):
            out[name] = json.dumps(jsonable(value))
        elif isinstance(value, list | tuple):
            out[name] = ",".join(str(float(item)) for item in value)
        else:
            out[name] = str(jsonable(value))
    return out


def ref_text(ref: Ref) -> str:
    if isinstance(ref, uuid.UUID):
        return str(ref)
    if isinstance(ref, str):
        return ref
    return ",".join(str(float(item)) for item in ref)


def ref_path(ref: Ref) -> str:
    return quote(ref_text(ref), safe=",.-")


def _as_uuid(value: Ref) -> uuid.UUID | None:
    if isinstance(value, uuid.UUID):
        return value
    if isinstance(value, str):
        try:
            return uuid.UUID(value)
        except ValueError:
            return None
    return None


def end(side: str, value: Ref) -> dict[str, Any]:
    """`from_id`/`from_coord` (or `to_*`, ...) for one end of a link or path."""
    memory_id = _as_uuid(value)
    if memory_id is not None or isinstance(value, uuid.UUID):
        return {f"{side}_id": str(memory_id)}
    return {f"{side}_coord": value if isinstance(value, str) else [float(item) for item in value]}


def _query_end(side: str, value: Ref) -> dict[str, Any]:
    return {name: (ref_text(item) if name.endswith("_coord") else item) for name, item in end(side, value).items()}


def _body(values: Mapping[str, Any]) -> dict[str, Any]:
    return {name: jsonable(value) for name, value in values.items()}


def _field(name: str, model: Any) -> Callable[[Any], Any]:
    return lambda body: model.model_validate(body[name])


# Memories


def create_memory(
    payload: dict[str, Any], *, idempotency_key: IdempotencyKey = None, **options: Unpack[CreateOptions]
) -> Call[MemoryCreated]:
    body = _body({"payload": payload, **options})
    call = Call("POST", "/memories", MemoryCreated.model_validate, body=body, idempotent=False)
    return call.with_idempotency_key(idempotency_key)


def create_batch(memories: Sequence[Mapping[str, Any]], *, idempotency_key: IdempotencyKey = None) -> Call[BatchResult]:
    body = {"memories": [_body(item) for item in memories]}
    call = Call("POST", "/memories/batch", BatchResult.model_validate, body=body, idempotent=False)
    return call.with_idempotency_key(idempotency_key)


def get_memory(ref: Ref, *, namespace: str | None = None, include_expired: bool | None = None) -> Call[Memory]:
    params = query_params({"namespace": namespace, "include_expired": include_expired})
    return Call("GET", f"/memories/{ref_path(ref)}", _field("memory", Memory), params=params)


def update_memory(ref: Ref, *, namespace: str | None = None, **changes: Unpack[PatchOptions]) -> Call[Memory]:
    params = query_params({"namespace": namespace})
    return Call("PATCH", f"/memories/{ref_path(ref)}", _field("memory", Memory), params=params, body=_body(changes))


def delete_memory(ref: Ref, *, namespace: str | None = None) -> Call[MemoryDeleted]:
    params = query_params({"namespace": namespace})
    return Call("DELETE", f"/memories/{ref_path(ref)}", MemoryDeleted.model_validate, params=params)


def list_memories(**options: Unpack[ListOptions]) -> Call[MemoryPage]:
    return Call("GET", "/memories", MemoryPage.model_validate, params=query_params(dict(options)))


def search(query: str, *, use_get: bool = False, **options: Unpack[SearchOptions]) -> Call[SearchResult]:
    if use_get:
        params = query_params({"query": query, **options})
        return Call("GET", "/memories/search", SearchResult.model_validate, params=params)
    return Call("POST", "/memories/search", SearchResult.model_validate, body=_body({"query": query, **options}))


def history(
    ref: Ref, *, namespace: str | None = None, limit: int | None = None, cursor: str | None = None
) -> Call[HistoryPage]:
    params = query_params({"namespace": namespace, "limit": limit, "cursor": cursor})
    return Call("GET", f"/memories/{ref_path(ref)}/history", HistoryPage.model_validate, params=params)


def restore(memory_id: uuid.UUID | str, *, version: int | None = None) -> Call[Restored]:
    body = {} if version is None else {"version": version}
    return Call(
        "POST", f"/memories/{ref_path(memory_id)}/restore", Restored.model_validate, body=body, idempotent=False
    )


def forget(*, dry_run: bool = True, **options: Unpack[ForgetOptions]) -> Call[ForgetResult]:
    body = _body({"dry_run": dry_run, **options})
    return Call("POST", "/memories/forget", ForgetResult.model_validate, body=body)


# Graph


def link(
    source: Ref,
    target: Ref,
    *,
    link_type: str = "related",
    strength: float | None = None,
    metadata: dict[str, Any] | None = None,
    namespace: str | None = None,
) -> Call[LinkSaved]:
    body: dict[str, Any] = {**end("from", source), **end("to", target), "link_type": link_type}
    for name, value in (("strength", strength), ("metadata", metadata), ("namespace", namespace)):
        if value is not None:
            body[name] = value
    return Call("POST", "/graph/link", LinkSaved.model_validate, body=body)


def unlink(source: Ref, target: Ref, *, link_type: str = "related", namespace: str | None = None) -> Call[LinkDeleted]:
    params = query_params(
        {**_query_end("from", source), **_query_end("to", target), "link_type": link_type, "namespace": namespace}
    )
    return Call("DELETE", "/graph/link", LinkDeleted.model_validate, params=params)


def links(
    ref: Ref,
    *,
    direction: Direction = "both",
    link_type: str | None = None,
    namespace: str | None = None,
    limit: int | None = None,
    cursor: str | None = None,
) -> Call[LinkPage]:
    params = query_params(
        {
            "ref": ref_text(ref),
            "direction": direction,
            "link_type": link_type,
            "namespace": namespace,
            "limit": limit,
            "cursor": cursor,
        }
    )
    return Call("GET", "/graph/links", LinkPage.model_validate, params=params)


def neighbors(
    start: Ref,
    *,
    k_hop: int = 1,
    limit: int = 10,
    offset: int = 0,
    link_type: str | None = None,
    direction: Direction = "out",
    namespace: str | None = None,
) -> Call[Neighbors]:
    memory_id = _as_uuid(start)
    identity = {"id": str(memory_id)} if memory_id is not None else {"coord": ref_text(start)}
    params = query_params(
        {
            **identity,
            "k_hop": k_hop,
            "limit": limit,
            "offset": offset or None,
            "link_type": link_type,
            "direction": direction,
            "namespace": namespace,
        }
    )
    return Call("GET", "/graph/neighbors", Neighbors.model_validate, params=params)


def path(
    source: Ref,
    target: Ref,
    *,
    max_length: int = 10,
    link_type: str | None = None,
    direction: Direction = "out",
    namespace: str | None = None,
) -> Call[Path]:
    params = query_params(
        {
            **_query_end("from", source),
            **_query_end("to", target),
            "max_length": max_length,
            "link_type": link_type,
            "direction": direction,
            "namespace": namespace,
        }
    )
    return Call("GET", "/graph/path", Path.model_validate, params=params)


# Operations


def healthz() -> Call[Liveness]:
    return Call("GET", "/healthz", Liveness.model_validate)


def readyz() -> Call[Readiness]:
    return Call("GET", "/readyz", Readiness.model_validate, answers=frozenset({200, 503}), retry_unavailable=False)


def health() -> Call[Health]:
    return Call("GET", "/health", Health.model_validate)


def stats() -> Call[Stats]:
    return Call("GET", "/stats", Stats.model_validate)


def metrics() -> Call[str]:
    return Call("GET", "/metrics", str)
