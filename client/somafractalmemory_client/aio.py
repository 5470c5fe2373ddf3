"""`AsyncSomaClient`: the same endpoints (endpoints.py) and retries as `SomaClient`, for asyncio."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import TypeVar

import httpx
from typing_extensions import Unpack

from somafractalmemory_client.calls import Call, ListOptions
from somafractalmemory_client.endpoints import Endpoints
from somafractalmemory_client.models import Memory
from somafractalmemory_client.retry import Attempts

T = TypeVar("T")


class AsyncSomaClient(Endpoints[httpx.AsyncClient]):
    """The same endpoints for asyncio: `async with AsyncSomaClient(url, token=...) as soma: await soma.search("...")`."""

    def _open(self, base_url: str, timeout: float) -> httpx.AsyncClient:
        return httpx.AsyncClient(base_url=base_url, timeout=timeout)

    async def __aenter__(self) -> AsyncSomaClient:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._http.aclose()

    async def send(self, call: Call[T]) -> T:
        attempts = Attempts(call, self._headers, self.retry, self._http.build_request)
        for request in attempts:
            await asyncio.sleep(attempts.wait_after(await self._try(request)))
        return attempts.value

    async def _try(self, request: httpx.Request) -> httpx.Response | httpx.RequestError:
        try:
            return await self._http.send(request)
        except httpx.RequestError as exc:
            return exc

    async def iter_memories(self, **options: Unpack[ListOptions]) -> AsyncIterator[Memory]:
        """Every memory the listing matches, following `next_cursor`."""
        while True:
            page = await self.list_memories(**options)
            for memory in page.items:
                yield memory
            if page.next_cursor is None:
                return
            options["cursor"] = page.next_cursor
