"""Access tracking: `last_accessed_at` and `access_count`, moved off the request path.

A read or a search hit only adds to an in-process buffer (a dict under a lock, microseconds).
The buffer is written in one UPDATE per flush: every SOMA_ACCESS_FLUSH_SECONDS by a daemon
thread, as soon as it holds SOMA_ACCESS_FLUSH_THRESHOLD distinct memories, and at exit. So a
burst of 1,000 searches over the same hits is one statement, not 10,000, and a memory's counts
are exact once the buffer that holds its hits is flushed. The UPDATE touches neither
`updated_at` (it is no save) nor the vector state, so nothing is embedded again. Each process
has its own buffer; the UPDATE adds, so several processes flushing the same rows add up.
"""

from __future__ import annotations

import atexit
import logging
import threading
import uuid
from collections.abc import Iterable
from datetime import datetime

from django.conf import settings
from django.db import close_old_connections, connection, transaction
from django.utils import timezone

logger = logging.getLogger("soma.memories")

# One statement for a whole buffer. It never waits for a row another transaction holds (a write
# replacing the memory, a link's trigger, another process's flush): `locked` skips such rows,
# the others are written, and the held ones stay in the buffer for the next flush. So a flush
# is never part of a deadlock, whatever order the other writers lock memories in (before, a
# batch replacing memories in coordinate order and a flush could deadlock: a 503 for the
# batch). GREATEST ignores NULLs: a first access sets it.
_FLUSH_SQL = """
WITH v(id, n, at) AS (SELECT * FROM unnest(%s::uuid[], %s::bigint[], %s::timestamptz[])),
locked AS (
    SELECT m.id FROM memories_memory AS m JOIN v USING (id) ORDER BY m.id FOR NO KEY UPDATE OF m SKIP LOCKED
)
UPDATE memories_memory AS m
SET access_count = m.access_count + v.n,
    last_accessed_at = GREATEST(m.last_accessed_at, v.at)
FROM v JOIN locked USING (id)
WHERE m.id = v.id
RETURNING m.id
"""
# Of the rows not written, those still there (held by another transaction; the rest are gone).
_PRESENT_SQL = "SELECT id FROM memories_memory WHERE id = ANY(%s::uuid[])"


class AccessBuffer:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        # Only one flush at a time per process, so a flush never races its own rows.
        self._flush_lock = threading.Lock()
        self._pending: dict[uuid.UUID, tuple[int, datetime]] = {}
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()

    def record(self, ids: Iterable[uuid.UUID], *, at: datetime | None = None) -> None:
        at = at or timezone.now()
        with self._lock:
            pending = self._pending
            for memory_id in ids:
                count, _ = pending.get(memory_id, (0, at))
                pending[memory_id] = (count + 1, at)
            full = len(pending) >= settings.SOMA_ACCESS_FLUSH_THRESHOLD
            start = self._thread is None and settings.SOMA_ACCESS_FLUSH_SECONDS > 0
            if start:
                self._thread = threading.Thread(target=self._loop, name="soma-access-flush", daemon=True)
        if start:
            assert self._thread is not None
            self._thread.start()
        if full:
            # The thread that filled it pays for this one statement, not every request.
            self.flush()

    def pending(self) -> int:
        with self._lock:
            return len(self._pending)

    def flush(self) -> int:
        """Write what the buffer holds; returns the number of memories written. A memory whose
        row another transaction holds just then is kept for the next flush."""
        with self._flush_lock:
            with self._lock:
                taken, self._pending = self._pending, {}
            if not taken:
                return 0
            ids = sorted(taken)
            try:
                with transaction.atomic(), connection.cursor() as cursor:
                    cursor.execute(_FLUSH_SQL, [ids, [taken[i][0] for i in ids], [taken[i][1] for i in ids]])
                    written = {row[0] for row in cursor.fetchall()}
                    unwritten = [memory_id for memory_id in ids if memory_id not in written]
                    held: list[uuid.UUID] = []
                    if unwritten:
                        cursor.execute(_PRESENT_SQL, [unwritten])
                        held = [row[0] for row in cursor.fetchall()]
            except Exception:
                # Put the counts back: the next flush writes them (the database may be down).
                self._put_back(taken)
                raise
            self._put_back({memory_id: taken[memory_id] for memory_id in held})
            return len(written)

    def _put_back(self, counts: dict[uuid.UUID, tuple[int, datetime]]) -> None:
        with self._lock:
            for memory_id, (count, at) in counts.items():
                later, latest = self._pending.get(memory_id, (0, at))
                self._pending[memory_id] = (count + later, max(at, latest))

    def discard(self) -> None:
        with self._lock:
            self._pending = {}

    def _loop(self) -> None:
        while not self._stop.wait(settings.SOMA_ACCESS_FLUSH_SECONDS):
            try:
                self.flush()
            except Exception:
                logger.exception("access counts not written; kept for the next flush")
            finally:
                close_old_connections()
                connection.close()


access_buffer = AccessBuffer()


def memory_access_record(*, ids: Iterable[uuid.UUID], at: datetime | None = None) -> None:
    """Count one access to each of `ids` (a read, or a search hit); written by the next flush."""
    access_buffer.record(ids, at=at)


def memory_access_flush() -> int:
    return access_buffer.flush()


@atexit.register
def _flush_at_exit() -> None:
    try:
        for _ in range(3):  # a row held by a writer at that moment is tried again
            access_buffer.flush()
            if not access_buffer.pending():
                break
    except Exception:  # the database may already be gone at exit
        logger.warning("access counts lost at exit: %d memories", access_buffer.pending())
