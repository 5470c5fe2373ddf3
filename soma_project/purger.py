"""The embedded server's own `prune_expired`, every SOMA_PURGE_INTERVAL seconds.

Expiry is enforced at read time (an expired memory is invisible from its `expires_at` on); this
only reclaims the rows, their links and their vectors. In embedded mode one process owns the
vector store, so the purge runs in that process; with QDRANT_URL, schedule
`manage.py prune_expired` (the Helm CronJob) instead.
"""

from __future__ import annotations

import logging

from django.db import close_old_connections, connection

from memories.aging import memories_expired_purge
from vectors.sweeper import Periodic

logger = logging.getLogger("soma.memories")


class ExpiredPurger(Periodic):
    name = "soma-expired-purger"

    def tick(self) -> None:
        try:
            result = memories_expired_purge()
            if result.count:
                logger.info("purged %d expired memories", result.count)
        except Exception:
            logger.exception("purge of expired memories failed")
        finally:
            close_old_connections()
            connection.close()


def purger_start(*, interval: float) -> ExpiredPurger | None:
    return ExpiredPurger(interval=interval).start() if interval > 0 else None
