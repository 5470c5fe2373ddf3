"""`SomaClient` (sync) and `AsyncSomaClient`: every REST endpoint, typed answers, typed errors, retries.

Retries: a 429 is retried after its `Retry-After` (when that is at most `Retry.max_wait`), a 503
and a failed connection with exponential backoff and jitter, up to `Retry.attempts` tries in
all. A write without an idempotency key is retried only when the server cannot have run it (a
429, or a connection that never opened); give `idempotency_key=True` (a fresh key per call, the
same for its retries) or your own key to make retried writes safe after a 503.
"""

from __future__ import annotations

import asyncio
import random
import time
import uuid
from collections.abc import AsyncIterator, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

import httpx
from typing_extensions import Unpack

from somafractalmemory_client import calls
from somafractalmemory_client.calls import (
    Call,
    CreateOptions,
    ForgetOptions,
    ListOptions,
    PatchOptions,
    Ref,
    SearchOptions,
)
from somafractalmemory_client.errors import TransportError, error_for
from somafractalmemory_client.models import (
    BatchResult,
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
    Neighbors,
    Path,
    Readiness,
    Restored,
    SearchResult,
    Stats,
)

T = TypeVar("T")
DEFAULT_URL = "http://127.0.0.1:9595"
IdempotencyKey = str | bool | None


@dataclass(frozen=True)
class Retry:
    attempts: int = 4  # tries in all, the first included
    backoff: float = 0.25  # seconds before the first retry of a 503; doubled each time
    max_backoff: float = 8.0
    max_wait: float = 60.0  # a longer Retry-After is not waited for: the 429 is raised


@dataclass
class _Outcome:
    """What one attempt tells the retry loop: an answer, or how long to wait before the next try."""

    value: Any = None
    error: Exception | None = None
    wait: float | None = None


def _headers(token: str | None, tenant: str | None) -> dict[str, str]:
    headers = {"Accept": "application/json", "User-Agent": "somafractalmemory-client/1.4"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    if tenant:
        headers["X-Soma-Tenant"] = tenant
    return headers


def _request_kwargs(call: Call[Any]) -> dict[str, Any]:
    kwargs: dict[str, Any] = {"params": call.params or None, "headers": dict(call.headers)}
    if call.body is not None:
        kwargs["json"] = call.body
    return kwargs


def _judge(call: Call[T], response: httpx.Response, attempt: int, retry: Retry) -> _Outcome:
    try:
        body: Any = response.json()
    except ValueError:
        body = response.text
    if response.status_code in call.answers:
        return _Outcome(value=call.parse(body))
    headers = {name.lower(): value for name, value in response.headers.items()}
    error = error_for(response.status_code, body, headers)
    last = attempt + 1 >= retry.attempts
    if response.status_code == 429 and not last:
        try:
            wait = max(0.0, float(headers.get("retry-after", "1")))
        except ValueError:
            wait = 1.0
        if wait <= retry.max_wait:
            return _Outcome(error=error, wait=wait)
    if response.status_code == 503 and call.retry_unavailable and call.idempotent and not last:
        return _Outcome(error=error, wait=_backoff(attempt, retry))
    return _Outcome(error=error)


def _backoff(attempt: int, retry: Retry) -> float:
    delay: float = min(retry.max_backoff, retry.backoff * 2**attempt)
    return delay * random.uniform(0.5, 1.0)


def _connect_failed(exc: Exception, call: Call[Any], attempt: int, retry: Retry) -> _Outcome:
    # A refused connection never reached the server; other transport failures may have.
    retriable = isinstance(exc, httpx.ConnectError) or call.idempotent
    if retriable and attempt + 1 < retry.attempts:
        return _Outcome(error=TransportError(str(exc)), wait=_backoff(attempt, retry))
    return _Outcome(error=TransportError(str(exc)))


class SomaClient:
    """Blocking client. `with SomaClient(url, token=...) as soma: soma.create_memory({...})`."""

    def __init__(
        self,
        base_url: str = DEFAULT_URL,
        *,
        token: str | None = None,
        tenant: str | None = None,
        timeout: float = 30.0,
        retry: Retry | None = None,
        http: httpx.Client | None = None,
    ) -> None:
        self.retry = retry or Retry()
        self._http = http or httpx.Client(base_url=base_url, timeout=timeout)
        self._headers = _headers(token, tenant)

    def __enter__(self) -> SomaClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        self._http.close()

    def send(self, call: Call[T]) -> T:
        for attempt in range(self.retry.attempts):
            kwargs = _request_kwargs(call)
            kwargs["headers"] = {**self._headers, **kwargs["headers"]}
            try:
                response = self._http.request(call.method, call.path, **kwargs)
            except httpx.TransportError as exc:
                outcome = _connect_failed(exc, call, attempt, self.retry)
            else:
                outcome = _judge(call, response, attempt, self.retry)
            if outcome.error is None:
                return outcome.value  # type: ignore[no-any-return]
            if outcome.wait is None:
                raise outcome.error
            time.sleep(outcome.wait)
        raise AssertionError("unreachable: the last attempt raises or answers")

    # Memories

    def create_memory(
        self, payload: dict[str, Any], *, idempotency_key: IdempotencyKey = None, **options: Unpack[CreateOptions]
    ) -> MemoryCreated:
        return self.send(calls.create_memory(payload, **options).with_idempotency_key(idempotency_key))

    def create_batch(
        self, memories: Sequence[Mapping[str, Any]], *, idempotency_key: IdempotencyKey = None
    ) -> BatchResult:
        return self.send(calls.create_batch(memories).with_idempotency_key(idempotency_key))

    def get_memory(self, ref: Ref, *, namespace: str | None = None, include_expired: bool | None = None) -> Memory:
        return self.send(calls.get_memory(ref, namespace=namespace, include_expired=include_expired))

    def update_memory(self, ref: Ref, *, namespace: str | None = None, **changes: Unpack[PatchOptions]) -> Memory:
        return self.send(calls.update_memory(ref, namespace=namespace, **changes))

    def delete_memory(self, ref: Ref, *, namespace: str | None = None) -> MemoryDeleted:
        return self.send(calls.delete_memory(ref, namespace=namespace))

    def list_memories(self, **options: Unpack[ListOptions]) -> MemoryPage:
        return self.send(calls.list_memories(**options))

    def iter_memories(self, **options: Unpack[ListOptions]) -> Iterator[Memory]:
        """Every memory the listing matches, following `next_cursor`."""
        while True:
            page = self.list_memories(**options)
            yield from page.items
            if page.next_cursor is None:
                return
            options["cursor"] = page.next_cursor

    def search(self, query: str, *, use_get: bool = False, **options: Unpack[SearchOptions]) -> SearchResult:
        return self.send(calls.search(query, use_get=use_get, **options))

    def history(self, ref: Ref, *, limit: int | None = None, cursor: str | None = None) -> HistoryPage:
        return self.send(calls.history(ref, limit=limit, cursor=cursor))

    def restore(self, memory_id: uuid.UUID | str, *, version: int | None = None) -> Restored:
        return self.send(calls.restore(memory_id, version=version))

    def forget(self, *, dry_run: bool = True, **options: Unpack[ForgetOptions]) -> ForgetResult:
        return self.send(calls.forget(dry_run=dry_run, **options))

    # Graph

    def link(
        self,
        source: Ref,
        target: Ref,
        *,
        link_type: str = "related",
        strength: float | None = None,
        metadata: dict[str, Any] | None = None,
        namespace: str | None = None,
    ) -> LinkSaved:
        return self.send(
            calls.link(source, target, link_type=link_type, strength=strength, metadata=metadata, namespace=namespace)
        )

    def unlink(
        self, source: Ref, target: Ref, *, link_type: str = "related", namespace: str | None = None
    ) -> LinkDeleted:
        return self.send(calls.unlink(source, target, link_type=link_type, namespace=namespace))

    def links(
        self,
        ref: Ref,
        *,
        direction: Direction = "both",
        link_type: str | None = None,
        namespace: str | None = None,
        limit: int | None = None,
        cursor: str | None = None,
    ) -> LinkPage:
        return self.send(
            calls.links(ref, direction=direction, link_type=link_type, namespace=namespace, limit=limit, cursor=cursor)
        )

    def neighbors(
        self,
        start: Ref,
        *,
        k_hop: int = 1,
        limit: int = 10,
        offset: int = 0,
        link_type: str | None = None,
        direction: Direction = "out",
        namespace: str | None = None,
    ) -> Neighbors:
        return self.send(
            calls.neighbors(
                start,
                k_hop=k_hop,
                limit=limit,
                offset=offset,
                link_type=link_type,
                direction=direction,
                namespace=namespace,
            )
        )

    def path(
        self,
        source: Ref,
        target: Ref,
        *,
        max_length: int = 10,
        link_type: str | None = None,
        direction: Direction = "out",
        namespace: str | None = None,
    ) -> Path:
        return self.send(
            calls.path(
                source, target, max_length=max_length, link_type=link_type, direction=direction, namespace=namespace
            )
        )

    # Operations

    def healthz(self) -> Liveness:
        return self.send(calls.healthz())

    def readyz(self) -> Readiness:
        return self.send(calls.readyz())

    def health(self) -> Health:
        return self.send(calls.health())

    def stats(self) -> Stats:
        return self.send(calls.stats())

    def metrics(self) -> str:
        return self.send(calls.metrics())


class AsyncSomaClient:
    """The same endpoints for asyncio: `async with AsyncSomaClient(url, token=...) as soma: await soma.search("...")`."""

    def __init__(
        self,
        base_url: str = DEFAULT_URL,
        *,
        token: str | None = None,
        tenant: str | None = None,
        timeout: float = 30.0,
        retry: Retry | None = None,
        http: httpx.AsyncClient | None = None,
    ) -> None:
        self.retry = retry or Retry()
        self._http = http or httpx.AsyncClient(base_url=base_url, timeout=timeout)
        self._headers = _headers(token, tenant)

    async def __aenter__(self) -> AsyncSomaClient:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._http.aclose()

    async def send(self, call: Call[T]) -> T:
        for attempt in range(self.retry.attempts):
            kwargs = _request_kwargs(call)
            kwargs["headers"] = {**self._headers, **kwargs["headers"]}
            try:
                response = await self._http.request(call.method, call.path, **kwargs)
            except httpx.TransportError as exc:
                outcome = _connect_failed(exc, call, attempt, self.retry)
            else:
                outcome = _judge(call, response, attempt, self.retry)
            if outcome.error is None:
                return outcome.value  # type: ignore[no-any-return]
            if outcome.wait is None:
                raise outcome.error
            await asyncio.sleep(outcome.wait)
        raise AssertionError("unreachable: the last attempt raises or answers")

    # Memories

    async def create_memory(
        self, payload: dict[str, Any], *, idempotency_key: IdempotencyKey = None, **options: Unpack[CreateOptions]
    ) -> MemoryCreated:
        return await self.send(calls.create_memory(payload, **options).with_idempotency_key(idempotency_key))

    async def create_batch(
        self, memories: Sequence[Mapping[str, Any]], *, idempotency_key: IdempotencyKey = None
    ) -> BatchResult:
        return await self.send(calls.create_batch(memories).with_idempotency_key(idempotency_key))

    async def get_memory(
        self, ref: Ref, *, namespace: str | None = None, include_expired: bool | None = None
    ) -> Memory:
        return await self.send(calls.get_memory(ref, namespace=namespace, include_expired=include_expired))

    async def update_memory(self, ref: Ref, *, namespace: str | None = None, **changes: Unpack[PatchOptions]) -> Memory:
        return await self.send(calls.update_memory(ref, namespace=namespace, **changes))

    async def delete_memory(self, ref: Ref, *, namespace: str | None = None) -> MemoryDeleted:
        return await self.send(calls.delete_memory(ref, namespace=namespace))

    async def list_memories(self, **options: Unpack[ListOptions]) -> MemoryPage:
        return await self.send(calls.list_memories(**options))

    async def iter_memories(self, **options: Unpack[ListOptions]) -> AsyncIterator[Memory]:
        while True:
            page = await self.list_memories(**options)
            for memory in page.items:
                yield memory
            if page.next_cursor is None:
                return
            options["cursor"] = page.next_cursor

    async def search(self, query: str, *, use_get: bool = False, **options: Unpack[SearchOptions]) -> SearchResult:
        return await self.send(calls.search(query, use_get=use_get, **options))

    async def history(self, ref: Ref, *, limit: int | None = None, cursor: str | None = None) -> HistoryPage:
        return await self.send(calls.history(ref, limit=limit, cursor=cursor))

    async def restore(self, memory_id: uuid.UUID | str, *, version: int | None = None) -> Restored:
        return await self.send(calls.restore(memory_id, version=version))

    async def forget(self, *, dry_run: bool = True, **options: Unpack[ForgetOptions]) -> ForgetResult:
        return await self.send(calls.forget(dry_run=dry_run, **options))

    # Graph

    async def link(
        self,
        source: Ref,
        target: Ref,
        *,
        link_type: str = "related",
        strength: float | None = None,
        metadata: dict[str, Any] | None = None,
        namespace: str | None = None,
    ) -> LinkSaved:
        return await self.send(
            calls.link(source, target, link_type=link_type, strength=strength, metadata=metadata, namespace=namespace)
        )

    async def unlink(
        self, source: Ref, target: Ref, *, link_type: str = "related", namespace: str | None = None
    ) -> LinkDeleted:
        return await self.send(calls.unlink(source, target, link_type=link_type, namespace=namespace))

    async def links(
        self,
        ref: Ref,
        *,
        direction: Direction = "both",
        link_type: str | None = None,
        namespace: str | None = None,
        limit: int | None = None,
        cursor: str | None = None,
    ) -> LinkPage:
        return await self.send(
            calls.links(ref, direction=direction, link_type=link_type, namespace=namespace, limit=limit, cursor=cursor)
        )

    async def neighbors(
        self,
        start: Ref,
        *,
        k_hop: int = 1,
        limit: int = 10,
        offset: int = 0,
        link_type: str | None = None,
        direction: Direction = "out",
        namespace: str | None = None,
    ) -> Neighbors:
        return await self.send(
            calls.neighbors(
                start,
                k_hop=k_hop,
                limit=limit,
                offset=offset,
                link_type=link_type,
                direction=direction,
                namespace=namespace,
            )
        )

    async def path(
        self,
        source: Ref,
        target: Ref,
        *,
        max_length: int = 10,
        link_type: str | None = None,
        direction: Direction = "out",
        namespace: str | None = None,
    ) -> Path:
        return await self.send(
            calls.path(
                source, target, max_length=max_length, link_type=link_type, direction=direction, namespace=namespace
            )
        )

    # Operations

    async def healthz(self) -> Liveness:
        return await self.send(calls.healthz())

    async def readyz(self) -> Readiness:
        return await self.send(calls.readyz())

    async def health(self) -> Health:
        return await self.send(calls.health())

    async def stats(self) -> Stats:
        return await self.send(calls.stats())

    async def metrics(self) -> str:
        return await self.send(calls.metrics())
