"""Every endpoint as a client method, defined once for `SomaClient` and `AsyncSomaClient`.

Each method is the `Call` builder of calls.py, read from a client: it takes the builder's own
arguments, builds the call and hands it to that client's `send`. So `SomaClient.search(...)`
answers a `SearchResult`, and `AsyncSomaClient.search(...)` is a coroutine of one.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable, Coroutine
from typing import TYPE_CHECKING, Any, Generic, ParamSpec, TypeVar, overload

import httpx

from somafractalmemory_client import calls
from somafractalmemory_client.calls import Call
from somafractalmemory_client.errors import InvalidArgument
from somafractalmemory_client.retry import DEFAULT_URL, Retry, base_headers, check_base_url

if TYPE_CHECKING:
    from somafractalmemory_client.aio import AsyncSomaClient
    from somafractalmemory_client.client import SomaClient

P = ParamSpec("P")
T = TypeVar("T")
Http = TypeVar("Http", httpx.Client, httpx.AsyncClient)


class endpoint(Generic[P, T]):
    """A `Call` builder as a method of both clients."""

    def __init__(self, build: Callable[P, Call[T]]) -> None:
        self.build = build
        self.__doc__ = build.__doc__

    @overload
    def __get__(self, client: None, owner: type[Any]) -> endpoint[P, T]: ...

    @overload
    def __get__(self, client: AsyncSomaClient, owner: type[Any]) -> Callable[P, Coroutine[Any, Any, T]]: ...

    @overload
    def __get__(self, client: SomaClient, owner: type[Any]) -> Callable[P, T]: ...

    def __get__(self, client: Any, owner: type[Any]) -> Any:
        if client is None:
            return self
        build, send = self.build, client.send
        if inspect.iscoroutinefunction(send):

            async def awaited(*args: Any, **kwargs: Any) -> Any:
                return await send(build(*args, **kwargs))

            return functools.wraps(build)(awaited)

        def answered(*args: Any, **kwargs: Any) -> Any:
            return send(build(*args, **kwargs))

        return functools.wraps(build)(answered)


class Endpoints(Generic[Http]):
    """What the two clients share: how they are made, and every endpoint. They differ in `send`."""

    def __init__(
        self,
        base_url: str = DEFAULT_URL,
        *,
        token: str | None = None,
        tenant: str | None = None,
        timeout: float = 30.0,
        retry: Retry | None = None,
        http: Http | None = None,
    ) -> None:
        # Refused here, before anything is opened or sent: a bad setting is an `InvalidArgument`.
        if retry is not None and not isinstance(retry, Retry):
            raise InvalidArgument(f"retry: {retry!r} is not a Retry")
        self.retry = retry or Retry()
        self._headers = base_headers(token, tenant)
        if http is None:
            check_base_url(base_url)
        self._http: Http = http or self._open(base_url, timeout)

    def _open(self, base_url: str, timeout: float) -> Http:
        raise NotImplementedError

    # Memories
    create_memory = endpoint(calls.create_memory)
    create_batch = endpoint(calls.create_batch)
    get_memory = endpoint(calls.get_memory)
    update_memory = endpoint(calls.update_memory)
    delete_memory = endpoint(calls.delete_memory)
    list_memories = endpoint(calls.list_memories)
    search = endpoint(calls.search)
    history = endpoint(calls.history)
    restore = endpoint(calls.restore)
    forget = endpoint(calls.forget)

    # Graph
    link = endpoint(calls.link)
    unlink = endpoint(calls.unlink)
    links = endpoint(calls.links)
    neighbors = endpoint(calls.neighbors)
    path = endpoint(calls.path)

    # Operations
    healthz = endpoint(calls.healthz)
    readyz = endpoint(calls.readyz)
    health = endpoint(calls.health)
    stats = endpoint(calls.stats)
    metrics = endpoint(calls.metrics)
