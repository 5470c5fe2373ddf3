"""Every REST operation as a `Call`: method, path, parameters and how to read the answer.

The sync and async clients send the same calls; only the sending differs.
"""

from __future__ import annotations

import json
import math
import numbers
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Generic, TypedDict, TypeVar
from urllib.parse import quote

from typing_extensions import Unpack

from somafractalmemory_client.errors import InvalidArgument
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

    def __post_init__(self) -> None:
        for name, value in self.headers.items():
            check_header(name, value)

    def with_idempotency_key(self, key: IdempotencyKey) -> Call[T]:
        if not key:
            return self
        value = uuid.uuid4().hex if key is True else str(key)
        if not value.strip():
            raise InvalidArgument(f"idempotency_key: {key!r} is blank")
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


def check_header(name: str, value: str) -> str:
    """`value` if it can be sent as the header `name` (printable ASCII), else `InvalidArgument`.

    A non-ASCII character cannot be encoded in a header, and a newline or another control
    character would split or corrupt the request: neither is sent, nor retried.
    """
    if not isinstance(value, str):
        raise InvalidArgument(f"{name}: {_shown(value)} ({type(value).__name__}) is not a str")
    if not value.isascii() or not value.isprintable():
        raise InvalidArgument(
            f"{name}: {_shown(value)} holds a character an HTTP header cannot carry "
            "(only printable ASCII, no newline or other control character)"
        )
    return value


def encode_json(value: Any, what: str = "the request body") -> bytes:
    """`value` as the JSON text that is sent, or `InvalidArgument` for what JSON cannot hold
    (NaN or infinity, a set, bytes, an arbitrary object, an unpaired surrogate, too deep)."""
    try:
        return json.dumps(value, ensure_ascii=False, allow_nan=False, separators=(",", ":")).encode("utf-8")
    except (TypeError, ValueError, RecursionError) as exc:  # UnicodeEncodeError is a ValueError
        raise InvalidArgument(f"{what} is not JSON: {_reason(exc)}") from exc


def _shown(value: Any, limit: int = 60) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[:limit] + "..."


def _reason(exc: BaseException) -> str:
    if isinstance(exc, UnicodeEncodeError):
        return f"{exc.object[exc.start : exc.end]!r} cannot be encoded as UTF-8 ({exc.reason})"
    if isinstance(exc, RecursionError):
        return "nested too deeply"
    if isinstance(exc, ValueError) and "Out of range float" in str(exc):
        return "NaN and infinity are not JSON numbers"
    return str(exc)


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
            out[name] = encode_json(_body({name: value}, name)[name], name).decode("utf-8")
        elif isinstance(value, list | tuple):
            out[name] = ",".join(str(item) for item in coordinate(value, name))
        else:
            out[name] = str(jsonable(value))
    return out


REF_HELP = "a ref is a memory id (a str or uuid.UUID) or a coordinate (a str such as '1,2,3', or a sequence of numbers)"


def coordinate(value: Any, what: str = "ref") -> list[float]:
    """A coordinate given as numbers: a non-empty sequence (or array) of finite real numbers."""
    if isinstance(value, str | bytes | bytearray | memoryview) or not (
        isinstance(value, Sequence) or hasattr(value, "__array__")
    ):
        raise InvalidArgument(f"{what}: {_shown(value)} ({type(value).__name__}) is not a ref; {REF_HELP}")
    items = list(value)
    if not items:
        raise InvalidArgument(f"{what}: an empty coordinate; {REF_HELP}")
    floats = []
    for item in items:
        if isinstance(item, bool) or not isinstance(item, numbers.Real):
            raise InvalidArgument(f"{what}: {_shown(item)} in {_shown(value)} is not a number; {REF_HELP}")
        number = float(item)
        if not math.isfinite(number):
            raise InvalidArgument(f"{what}: {item!r} in {_shown(value)} is not a finite number")
        floats.append(number)
    return floats


def check_ref(ref: Any, what: str = "ref") -> uuid.UUID | str | list[float]:
    """The ref if it names a memory, else `InvalidArgument` (before anything is sent).

    A str ref goes in the URL path of some routes: one that is empty, holds a '/' or is a dot
    segment ('.' or '..') would reach another route, and is neither an id nor a coordinate.
    """
    if isinstance(ref, uuid.UUID):
        return ref
    if isinstance(ref, str):
        if not ref.strip():
            raise InvalidArgument(f"{what}: an empty ref; {REF_HELP}")
        if "/" in ref or ref in (".", ".."):
            raise InvalidArgument(f"{what}: {_shown(ref)} is not a ref (no '/', '.' or '..'); {REF_HELP}")
        try:
            ref.encode("utf-8")
        except UnicodeEncodeError as exc:
            raise InvalidArgument(f"{what}: {_shown(ref)} is not a ref: {_reason(exc)}") from exc
        return ref
    return coordinate(ref, what)


def ref_text(ref: Ref, what: str = "ref") -> str:
    checked = check_ref(ref, what)
    if isinstance(checked, uuid.UUID):
        return str(checked)
    if isinstance(checked, str):
        return checked
    return ",".join(str(item) for item in checked)


def ref_path(ref: Ref, what: str = "ref") -> str:
    """The ref as one URL path segment, percent-encoded."""
    return quote(ref_text(ref, what), safe=",.-")


def _as_uuid(value: Ref, what: str = "ref") -> uuid.UUID | None:
    checked = check_ref(value, what)
    if isinstance(checked, uuid.UUID):
        return checked
    if isinstance(checked, str):
        try:
            return uuid.UUID(checked)
        except ValueError:
            return None
    return None


def end(side: str, value: Ref) -> dict[str, Any]:
    """`from_id`/`from_coord` (or `to_*`, ...) for one end of a link or path."""
    checked = check_ref(value, side)
    memory_id = _as_uuid(checked, side)
    if memory_id is not None:
        return {f"{side}_id": str(memory_id)}
    return {f"{side}_coord": checked}


def _query_end(side: str, value: Ref) -> dict[str, Any]:
    return {
        name: (ref_text(item, side) if name.endswith("_coord") else item) for name, item in end(side, value).items()
    }


def _body(values: Mapping[str, Any], what: str = "the request body") -> dict[str, Any]:
    try:
        return {name: jsonable(value) for name, value in values.items()}
    except RecursionError as exc:
        raise InvalidArgument(f"{what} is not JSON: nested too deeply") from exc


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
    if isinstance(memories, str | bytes | Mapping) or not isinstance(memories, Sequence):
        raise InvalidArgument(f"memories: {_shown(memories)} is not a list of memories (mappings)")
    for index, item in enumerate(memories):
        if not isinstance(item, Mapping):
            raise InvalidArgument(f"memories[{index}]: {_shown(item)} is not a mapping (payload, metadata, ...)")
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
    if not isinstance(query, str):
        raise InvalidArgument(f"query: {_shown(query)} ({type(query).__name__}) is not a str")
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
        "POST",
        f"/memories/{ref_path(memory_id, 'memory_id')}/restore",
        Restored.model_validate,
        body=body,
        idempotent=False,
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
    memory_id = _as_uuid(start, "start")
    identity = {"id": str(memory_id)} if memory_id is not None else {"coord": ref_text(start, "start")}
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
