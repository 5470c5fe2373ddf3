"""The embedded server's background index builds (`EdgeStore.index_aside`).

Without an index, an embedded search scans every float16 vector of its namespace (~5 ms per
100k points here); the index (int8 vectors and an HNSW graph per tenant and namespace) answers
in under 1 ms. This thread checks every few seconds how many points were written since the
last build and, past SOMA_INDEX_THRESHOLD, has a child process build the index on a copy
while the server keeps answering. With QDRANT_URL the server indexes by itself and this
never runs.
"""

from __future__ import annotations

import logging
import time

from vectors.backend import get_vector_store
from vectors.metrics import (
    INDEX_BUILD_SECONDS,
    INDEX_BUILDING,
    INDEX_BUILDS,
    VECTOR_POINTS,
    VECTOR_POINTS_UNINDEXED,
)
from vectors.stores.base import VectorStoreError
from vectors.stores.edge import EdgeStore
from vectors.sweeper import Periodic

logger = logging.getLogger("soma.vectors")

CHECK_INTERVAL = 5.0
# After a failed build (disk full, a killed child), wait this long before trying again.
RETRY_AFTER = 600.0


def _gauges_set(store: EdgeStore) -> tuple[int, int]:
    info = store.info()
    points, unindexed = int(info["points"]), int(info["unindexed"])
    VECTOR_POINTS.set(points)
    VECTOR_POINTS_UNINDEXED.set(unindexed)
    return points, unindexed


def index_once(store: EdgeStore, *, threshold: int) -> bool:
    """Build the index once at least `threshold` points were written since the last build, and
    at least a quarter as many as that build covered: each build re-indexes every point, so a
    store growing steadily is rebuilt a bounded number of times per doubling, not every
    `threshold` points."""
    points, unindexed = _gauges_set(store)
    if unindexed < max(threshold, (points - unindexed) // 4):
        return False
    started = time.perf_counter()
    with INDEX_BUILDING.track_inprogress():
        built = store.index_aside()
    if built:
        elapsed = time.perf_counter() - started
        INDEX_BUILDS.inc()
        INDEX_BUILD_SECONDS.observe(elapsed)
        points, unindexed = _gauges_set(store)
        logger.info("vector index built over %d points in %.1f s", points - unindexed, elapsed)
    return built


class IndexBuilder(Periodic):
    name = "soma-index-builder"

    def __init__(self, *, threshold: int, interval: float = CHECK_INTERVAL) -> None:
        super().__init__(interval=interval)
        self.threshold = threshold

    def tick(self) -> float | None:
        try:
            store = get_vector_store()
            if isinstance(store, EdgeStore):
                index_once(store, threshold=self.threshold)
        except VectorStoreError as exc:
            if not self._stop.is_set():  # else the server is closing the store
                logger.warning("vector index build failed, next try in %.0f s: %s", RETRY_AFTER, exc)
            return RETRY_AFTER
        except Exception:
            logger.exception("vector index build failed")
            return RETRY_AFTER
        return None


def index_builder_start(*, threshold: int) -> IndexBuilder | None:
    return IndexBuilder(threshold=threshold).start() if threshold > 0 else None
