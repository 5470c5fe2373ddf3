"""`SomaClient`, the blocking client: every REST endpoint (endpoints.py), typed answers, typed
errors, and the retries of retry.py. `AsyncSomaClient` (aio.py) is the same for asyncio."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import TypeVar

import httpx
from typing_extensions import Unpack

from somafractalmemory_client.calls import Call, ListOptions
from somafractalmemory_client.endpoints import Endpoints
from somafractalmemory_client.models import Memory
from somafractalmemory_client.retry import Attempts

T = TypeVar("T")


class SomaClient(Endpoints[httpx.Client]):
    """Blocking client. `with SomaClient(url, token=...) as soma: soma.create_memory({...})`."""

    def _open(self, base_url: str, timeout: float) -> httpx.Client:
        return httpx.Client(base_url=base_url, timeout=timeout)

    def __enter__(self) -> SomaClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        self._http.close()

    def send(self, call: Call[T]) -> T:
        attempts = Attempts(call, self._headers, self.retry, self._http.build_request)
        for request in attempts:
            time.sleep(attempts.wait_after(self._try(request)))
        return attempts.value

    def _try(self, request: httpx.Request) -> httpx.Response | httpx.RequestError:
        try:
            return self._http.send(request)
        except httpx.RequestError as exc:
            return exc

    def iter_memories(self, **options: Unpack[ListOptions]) -> Iterator[Memory]:
        """Every memory the listing matches, following `next_cursor`."""
        while True:
            page = self.list_memories(**options)
            yield from page.items
            if page.next_cursor is None:
                return
            options["cursor"] = page.next_cursor
