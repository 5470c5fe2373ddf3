"""Removing a memory, recorded in its history."""

from __future__ import annotations

from django.db import transaction

from memories.history_services import SYSTEM_ACTOR, memory_versions_record_removal
from memories.models import Memory, VersionEvent


def memory_delete(*, memory: Memory, actor: str = SYSTEM_ACTOR, event: str = VersionEvent.DELETED) -> bool:
    """Delete `memory` and its links (post_delete removes the vector after commit), recorded in
    its history as `event` (deleted, expired or forgotten).

    False when it is gone already. Concurrent deletes of one memory queue on its row lock: the
    first deletes it, the others then find no row, so exactly one caller is told it deleted it.
    """
    with transaction.atomic():
        locked = Memory.objects.select_for_update().filter(pk=memory.pk).first()
        if locked is None:
            return False
        memory_versions_record_removal(memories=[locked], event=event, actor=actor)
        locked.delete()
    return True
