"""Keep the vector store in step with PostgreSQL, after each commit.

Thin glue: a receiver only schedules work with `transaction.on_commit`. The work itself never
raises (a failure marks the memories `failed`), and `vector_status` plus the sweep
(`reindex --dirty`) repair whatever a crash between commit and indexing left pending, as well
as rows changed by `QuerySet.update()` / raw SQL, which send no signal.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Sequence
from typing import Any

from django.db import transaction
from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver

from memories.models import Memory
from memories.signals import in_bulk_delete, memories_deleted, memories_upserted

logger = logging.getLogger("soma.vectors")

# Saves that only record the vector state must not index again (they are the indexing's own).
_STATE_FIELDS = frozenset({"vector_status", "vector_model", "vector_error"})
# Nor saves of fields the point does not hold (memories.services.update.memory_update: pinned, expiry).
_UNINDEXED_FIELDS = _STATE_FIELDS | {"pinned", "expires_at", "updated_at", "version"}


def _index_after_commit(ids: Sequence[uuid.UUID], memories: Sequence[Memory] | None = None) -> None:
    from vectors.services.indexing import memories_index, memories_index_stored

    ids = list(ids)
    # robust: an exception is logged, never raised into the request that already committed.
    if memories is not None and len(memories) == len(ids):
        loaded = list(memories)  # the rows as the write stored them: nothing to load again
        transaction.on_commit(lambda: memories_index_stored(memories=loaded, release_connection=True), robust=True)
    else:
        transaction.on_commit(lambda: memories_index(ids=ids, release_connection=True), robust=True)


@receiver(memories_upserted, dispatch_uid="vectors_index_upserted")
def index_upserted(
    sender: Any, ids: Sequence[uuid.UUID] = (), memories: Sequence[Memory] | None = None, **kwargs: Any
) -> None:
    try:
        if ids:
            _index_after_commit(ids, memories)
    except Exception:
        logger.exception("could not schedule indexing; the sweep will pick the memories up")


@receiver(post_save, sender=Memory, dispatch_uid="vectors_index_saved")
def index_saved(
    sender: Any, instance: Memory, raw: bool = False, update_fields: frozenset[str] | None = None, **kwargs: Any
) -> None:
    if raw or (update_fields is not None and set(update_fields) <= _UNINDEXED_FIELDS):
        return
    try:
        _index_after_commit([instance.pk])
    except Exception:
        logger.exception("could not schedule indexing; the sweep will pick the memory up")


@receiver(post_delete, sender=Memory, dispatch_uid="vectors_delete_point")
def delete_point(sender: Any, instance: Memory, **kwargs: Any) -> None:
    if in_bulk_delete():
        return  # memories_deleted announces the whole chunk
    _delete_after_commit([instance.pk])


@receiver(memories_deleted, dispatch_uid="vectors_delete_points")
def delete_points(sender: Any, ids: Sequence[uuid.UUID] = (), **kwargs: Any) -> None:
    if ids:
        _delete_after_commit(list(ids))


def _delete_after_commit(ids: list[uuid.UUID]) -> None:
    from vectors.services.indexing import points_delete

    try:
        transaction.on_commit(lambda: points_delete(ids=ids), robust=True)
    except Exception:
        logger.exception("could not schedule the point's deletion; vectors_check --fix removes orphans")
