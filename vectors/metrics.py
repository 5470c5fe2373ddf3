"""Prometheus metrics of the embedding and vector-store path.

Module-level objects on the default registry: in multiprocess mode (PROMETHEUS_MULTIPROC_DIR)
prometheus_client writes them to per-process files that /metrics aggregates.
"""

from prometheus_client import Counter, Gauge, Histogram

EMBEDDINGS = Counter("soma_embeddings_total", "Texts embedded")
EMBED_SECONDS = Histogram("soma_embedding_seconds", "Latency of one embedding batch")
VECTOR_UPSERTS = Counter("soma_vector_upserts_total", "Points upserted into the vector store")
VECTOR_FAILURES = Counter("soma_vector_failures_total", "Vector store or embedder failures", ["operation"])
SEARCH_SECONDS = Histogram("soma_search_seconds", "Search latency", ["mode"])
VECTOR_FLUSH_SECONDS = Histogram(
    "soma_vector_flush_seconds",
    "One flush of the embedded vector store (msync/fsync; every request thread waits: it holds the GIL)",
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5),
)
VECTOR_DELETES = Counter("soma_vector_deletes_total", "Points deleted from the vector store")
# The embedded engine only (vectors.index_builder), refreshed every few seconds.
VECTOR_POINTS = Gauge("soma_vector_points", "Points in the embedded vector store")
VECTOR_POINTS_UNINDEXED = Gauge(
    "soma_vector_points_unindexed", "Points written to the embedded vector store since its last index build"
)
INDEX_BUILDING = Gauge("soma_vector_index_building", "1 while a background index build runs")
INDEX_BUILDS = Counter("soma_vector_index_builds_total", "Background index builds of the embedded vector store")
INDEX_BUILD_SECONDS = Histogram(
    "soma_vector_index_build_seconds",
    "Duration of one background index build (copy, child process, catch-up, swap)",
    buckets=(1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800),
)
