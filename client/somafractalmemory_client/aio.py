"""`AsyncSomaClient`: the same endpoints and retries as `SomaClient`, for asyncio."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Mapping, Sequence
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
from somafractalmemory_client.retry import (
    DEFAULT_URL,
    IdempotencyKey,
    Retry,
    base_headers,
    connect_failed,
    judge,
    request_kwargs,
)

T = TypeVar("T")


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
        self._headers = base_headers(token, tenant)

    async def __aenter__(self) -> AsyncSomaClient:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._http.aclose()

    async def send(self, call: Call[T]) -> T:
        for attempt in range(self.retry.attempts):
            kwargs = request_kwargs(call)
            kwargs["headers"] = {**self._headers, **kwargs["headers"]}
            try:
                response = await self._http.request(call.method, call.path, **kwargs)
            except httpx.TransportError as exc:
                outcome = connect_failed(exc, call, attempt, self.retry)
            else:
                outcome = judge(call, response, attempt, self.retry)
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

    async def history(
        self, ref: Ref, *, namespace: str | None = None, limit: int | None = None, cursor: str | None = None
    ) -> HistoryPage:
        return await self.send(calls.history(ref, namespace=namespace, limit=limit, cursor=cursor))

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
