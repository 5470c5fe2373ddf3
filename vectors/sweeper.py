"""The embedded server's own `reindex --dirty`, every SOMA_REINDEX_INTERVAL seconds.

In embedded mode one process owns the vector store's folder, so a cron job cannot run the
command while the server is up: this thread does it in-process. With QDRANT_URL, schedule
`manage.py reindex --dirty` instead (the Helm CronJob).
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Self

from django.conf import settings
from django.db import close_old_connections, connection

from memories.history_services import history_prune
from vectors.services.indexing import IndexSummary
from vectors.services.maintenance import MaintenanceBusy, maintenance_lock, memories_reindex

logger = logging.getLogger("soma.vectors")


def sweep_once() -> IndexSummary | None:
    """One pass over the dirty memories; None when another maintenance run holds the lock."""
    try:
        with maintenance_lock():
            return memories_reindex(dirty=True)
    except MaintenanceBusy:
        return None


class Periodic:
    """A daemon thread calling `tick()` every `interval` seconds until stopped; `tick` may
    return a longer wait before the next call (e.g. after a failure)."""

    name = "soma-periodic"

    def __init__(self, *, interval: float, first: float | None = None) -> None:
        self.interval = interval
        self.first = interval if first is None else first
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name=self.name, daemon=True)

    def start(self) -> Self:
        self._thread.start()
        return self

    def stop(self, timeout: float = 30.0) -> None:
        self._stop.set()
        self._thread.join(timeout)

    def _loop(self) -> None:
        wait = self.first
        while not self._stop.wait(wait):
            wait = self.tick() or self.interval

    def tick(self) -> float | None:
        raise NotImplementedError


class Sweeper(Periodic):
    """Also prunes the memories' history every SOMA_HISTORY_PRUNE_INTERVAL seconds (what
    `manage.py prune_history`, the Helm CronJob, does in server mode)."""

    name = "soma-vector-sweeper"

    def __init__(self, *, interval: float, first: float | None = None) -> None:
        super().__init__(interval=interval, first=first)
        self._pruned_at: float | None = None

    def tick(self) -> None:
        try:
            summary = sweep_once()
            if summary is not None and (summary.indexed or summary.failed):
                logger.info("vector sweep: %d indexed, %d failed", summary.indexed, summary.failed)
            self.prune_history()
        except Exception:
            # The database may be down for a while: log, and try at the next interval.
            logger.exception("vector sweep failed")
        finally:
            # This thread's own connection: never keep one open across a long wait.
            close_old_connections()
            connection.close()

    def prune_history(self) -> None:
        every = settings.SOMA_HISTORY_PRUNE_INTERVAL
        now = time.monotonic()
        if every <= 0 or (self._pruned_at is not None and now - self._pruned_at < every):
            return
        self._pruned_at = now
        pruned = history_prune()
        if pruned.versions or pruned.idempotency_keys:
            logger.info(
                "history prune: %d versions (%d deleted memories), %d idempotency keys",
                pruned.versions,
                pruned.tombstones,
                pruned.idempotency_keys,
            )


def sweeper_start(*, interval: float, now: bool = False) -> Sweeper | None:
    """`now`: the first sweep at once (memories to repair were found at start-up), even with
    the sweeper off (interval 0), then none."""
    if interval > 0:
        return Sweeper(interval=interval, first=0.0 if now else None).start()
    if now:
        threading.Thread(target=Sweeper(interval=0).tick, name="soma-vector-repair", daemon=True).start()
    return None
