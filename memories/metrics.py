"""Prometheus gauges of what PostgreSQL holds, computed at scrape time.

A custom collector rather than Gauges set on each write: the numbers stay right whatever
wrote the rows (bulk updates, commands, another pod), and in gunicorn's multiprocess mode there
is no per-worker gauge to reconcile. One aggregate query, reused for CACHE_SECONDS so frequent
scrapes (or several Prometheus servers) cost at most one query per interval per process.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Iterator

from django.db import DatabaseError
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import REGISTRY, Collector, CollectorRegistry

from memories.selectors import memory_counts

logger = logging.getLogger(__name__)

CACHE_SECONDS = 15.0


class MemoryCountsCollector(Collector):
    def __init__(self, *, cache_seconds: float = CACHE_SECONDS) -> None:
        self.cache_seconds = cache_seconds
        self._lock = threading.Lock()
        self._counts: dict[str, int] | None = None
        self._read_at = 0.0

    def counts(self) -> dict[str, int] | None:
        with self._lock:
            now = time.monotonic()
            if self._counts is None or now - self._read_at >= self.cache_seconds:
                try:
                    self._counts = memory_counts(tenant=None)
                except DatabaseError as exc:
                    # A scrape must not fail because the database is down; the gauges go
                    # missing instead, which alerting on absent() can catch.
                    logger.warning("memory counts unavailable for /metrics: %s", exc.__class__.__name__)
                    self._counts = None
                    return None
                self._read_at = now
            return self._counts

    def invalidate(self) -> None:
        with self._lock:
            self._counts = None

    def collect(self) -> Iterator[Metric]:
        counts = self.counts()
        if counts is None:
            return
        stored = GaugeMetricFamily("soma_memories_stored", "Memories stored, all tenants", labels=["memory_type"])
        stored.add_metric(["episodic"], counts["episodic"])
        stored.add_metric(["semantic"], counts["semantic"])
        yield stored
        yield GaugeMetricFamily(
            "soma_vectors_pending",
            "Memories whose vector is not indexed yet (includes failed)",
            value=counts["pending"],
        )
        yield GaugeMetricFamily(
            "soma_vectors_failed", "Memories whose last indexing attempt failed", value=counts["failed"]
        )

    def describe(self) -> Iterator[Metric]:
        # Without describe() registering would call collect(), i.e. query the database at import.
        yield GaugeMetricFamily("soma_memories_stored", "Memories stored, all tenants", labels=["memory_type"])
        yield GaugeMetricFamily("soma_vectors_pending", "Memories whose vector is not indexed yet (includes failed)")
        yield GaugeMetricFamily("soma_vectors_failed", "Memories whose last indexing attempt failed")


MEMORY_COUNTS = MemoryCountsCollector()


def register_collectors(registry: CollectorRegistry = REGISTRY) -> None:
    # ValueError: already registered (ready() may run again in some test setups).
    with contextlib.suppress(ValueError):
        registry.register(MEMORY_COUNTS)
