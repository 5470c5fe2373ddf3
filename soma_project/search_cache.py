"""Rendered search answers, reused while every row they show is unchanged.

A repeated search gets the same ranking from the engine (the embedded store answers it from
memory). Turning its rows into models and rendering them took ~0.8 ms of the ~1.7 ms such a
request took in-process; checking that none of those rows changed takes one narrow query
(`memory_row_versions`, ~0.3 ms). A row's version is PostgreSQL's own record of the tuple
(`xmin` and `ctid`): every UPDATE, whoever makes it (the API, the admin, raw SQL, another
process), gives the row a new one, and a deleted row is absent. So an answer is reused only for
exactly the rows it was rendered from; anything else renders anew. The cache is per process and
bounded (RENDERED_SEARCHES entries).
"""

from __future__ import annotations

import threading
import uuid
from collections import OrderedDict
from collections.abc import Callable, Hashable

from memories.models import Memory
from memories.selectors import memories_by_ids, memory_row_versions
from vectors.selectors import Ranked

RENDERED_SEARCHES = 1024
RENDERED_MEMORIES = 4096


class RenderedSearches:
    def __init__(self, size: int = RENDERED_SEARCHES) -> None:
        self.size = size
        self._lock = threading.Lock()
        self._answers: OrderedDict[Hashable, tuple[bytes, dict[uuid.UUID, str]]] = OrderedDict()

    def answer(
        self,
        *,
        tenant: str,
        ranked: Ranked,
        render: Callable[[list[tuple[Memory, float]]], bytes],
        load: Callable[[], list[tuple[Memory, float]]],
    ) -> tuple[bytes, list[uuid.UUID]]:
        """The rendered answer for this ranking, and the ids it shows: reused when its rows are
        as they were, else `render(load())`. One query; two when a cached answer turns out stale.
        A ranking that holds an expired row never matches (that row has no version): such an
        answer, which `load` filled from further down, is rendered every time until the purge."""
        key = (tenant, tuple(ranked))
        with self._lock:
            cached = self._answers.get(key)
        if cached is not None:
            body, versions = cached
            ids = [uuid.UUID(memory_id) for memory_id, _ in ranked]
            if memory_row_versions(tenant=tenant, ids=ids) == versions:
                with self._lock:
                    if key in self._answers:
                        self._answers.move_to_end(key)
                return body, list(versions)
        hits = load()
        body = render(hits)
        versions = {memory.pk: memory.row_version for memory, _ in hits}  # type: ignore[attr-defined]
        with self._lock:
            self._answers[key] = (body, versions)
            self._answers.move_to_end(key)
            while len(self._answers) > self.size:
                self._answers.popitem(last=False)
        return body, list(versions)

    def clear(self) -> None:
        with self._lock:
            self._answers.clear()


rendered_searches = RenderedSearches()


class RenderedMemories:
    """Each memory's rendered JSON object, reused while its row version is unchanged: the
    fragments a re-ranked answer is put together from. Such an answer cannot be reused whole
    (its scores move with the clock), but its rows mostly are the same: the pool's one narrow
    query gives every candidate's version, so an answer costs that query, and a load only for
    rows never rendered or changed since. Per process, bounded (RENDERED_MEMORIES rows)."""

    def __init__(self, size: int = RENDERED_MEMORIES) -> None:
        self.size = size
        self._lock = threading.Lock()
        self._rows: OrderedDict[tuple[str, uuid.UUID], tuple[str, bytes]] = OrderedDict()

    def fragments(
        self,
        *,
        tenant: str,
        versions: dict[uuid.UUID, str],
        render: Callable[[Memory], bytes],
    ) -> dict[uuid.UUID, bytes]:
        """The rendered memory of each id in `versions` still visible; one query when any of
        them has no fragment of that version yet, none otherwise."""
        found: dict[uuid.UUID, bytes] = {}
        with self._lock:
            for memory_id, version in versions.items():
                cached = self._rows.get((tenant, memory_id))
                if cached is not None and cached[0] == version:
                    found[memory_id] = cached[1]
                    self._rows.move_to_end((tenant, memory_id))
        missing = [memory_id for memory_id in versions if memory_id not in found]
        if missing:
            for memory_id, memory in memories_by_ids(tenant=tenant, ids=missing).items():
                fragment = render(memory)
                found[memory_id] = fragment
                with self._lock:
                    self._rows[(tenant, memory_id)] = (memory.row_version, fragment)  # type: ignore[attr-defined]
                    while len(self._rows) > self.size:
                        self._rows.popitem(last=False)
        return found

    def clear(self) -> None:
        with self._lock:
            self._rows.clear()


rendered_memories = RenderedMemories()
