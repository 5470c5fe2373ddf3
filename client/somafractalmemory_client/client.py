"""`SomaClient`, the blocking client: every REST endpoint, typed answers, typed errors, and the
retries of retry.py. `AsyncSomaClient` (aio.py) is the same for asyncio."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator, Mapping, Sequence
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
        self._headers = base_headers(token, tenant)

    def __enter__(self) -> SomaClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        self._http.close()

    def send(self, call: Call[T]) -> T:
        for attempt in range(self.retry.attempts):
            kwargs = request_kwargs(call)
            kwargs["headers"] = {**self._headers, **kwargs["headers"]}
            try:
                response = self._http.request(call.method, call.path, **kwargs)
            except httpx.TransportError as exc:
                outcome = connect_failed(exc, call, attempt, self.retry)
            else:
                outcome = judge(call, response, attempt, self.retry)
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

    def history(
        self, ref: Ref, *, namespace: str | None = None, limit: int | None = None, cursor: str | None = None
    ) -> HistoryPage:
        return self.send(calls.history(ref, namespace=namespace, limit=limit, cursor=cursor))

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
