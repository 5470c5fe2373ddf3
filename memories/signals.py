"""Signals the memory services send; `vectors` and `graph` listen. memories imports neither app.

bulk upserts send no post_save, so the services announce them with `memories_upserted`
(keyword arguments `ids`, and `memories`: the rows as stored, when the service has them). Single-row saves and deletes use Django's own post_save/post_delete.

`memories_removing` is sent inside the transaction that removes memories (deleted, expired or
forgotten), before the rows go, with `memories` (a list of Memory). A receiver may return a
dict {memory_id: {name: JSON value}}: it is kept with the removal's version (`related`) and
handed back by `memory_restored` (keyword arguments `memory` and `related`) when that memory
is restored, inside the restore's transaction. The graph keeps a memory's links that way.

Bulk deletes (the purge
of expired memories, forget) announce their rows with `memories_deleted` (keyword argument
`ids`) and run inside `bulk_delete()`, under which a post_delete receiver leaves the row to that
one announcement: one vector-store write for a chunk of 500 rows instead of 500.
"""

from __future__ import annotations

import contextlib
import contextvars
from collections.abc import Iterator

from django.dispatch import Signal

memories_upserted = Signal()
memories_removing = Signal()
memory_restored = Signal()
# A memory restored at a coordinate where the graph left a bare node (links made while nothing
# was stored there) takes that node's place: sent with `node_id` and `memory_id` inside the
# restore's transaction, before the node's row goes, so the graph moves the node's links over.
bare_node_claimed = Signal()
memories_deleted = Signal()

_bulk_delete = contextvars.ContextVar("soma_bulk_delete", default=False)


@contextlib.contextmanager
def bulk_delete() -> Iterator[None]:
    token = _bulk_delete.set(True)
    try:
        yield
    finally:
        _bulk_delete.reset(token)


def in_bulk_delete() -> bool:
    return _bulk_delete.get()
