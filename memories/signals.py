"""Signals the memory services send; `vectors` listens. memories imports neither app.

bulk upserts send no post_save, so the services announce them with `memories_upserted`
(keyword arguments `ids`, and `memories`: the rows as stored, when the service has them).
Single-row saves and deletes use Django's own post_save/post_delete. Bulk deletes (the purge
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
