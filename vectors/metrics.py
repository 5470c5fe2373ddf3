"""Prometheus metrics of the embedding and vector-store path.

Module-level objects on the default registry: in multiprocess mode (PROMETHEUS_MULTIPROC_DIR)
prometheus_client writes them to per-process files that /metrics aggregates.
"""

from prometheus_client import Counter, Histogram

EMBEDDINGS = Counter("soma_embeddings_total", "Texts embedded")
EMBED_SECONDS = Histogram("soma_embedding_seconds", "Latency of one embedding batch")
VECTOR_UPSERTS = Counter("soma_vector_upserts_total", "Points upserted into the vector store")
VECTOR_FAILURES = Counter("soma_vector_failures_total", "Vector store or embedder failures", ["operation"])
SEARCH_SECONDS = Histogram("soma_search_seconds", "Search latency", ["mode"])
VECTOR_DELETES = Counter("soma_vector_deletes_total", "Points deleted from the vector store")
