"""What reads and writes share: cached embeddings, and the store with its failure cool-down."""

from __future__ import annotations

import hashlib
import os
import threading
import time
import weakref
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np
from django.conf import settings
from django.core.cache import cache

from vectors import metrics
from vectors.backend import embedder, get_vector_store
from vectors.embedding import Embedder
from vectors.stores import ClientStore, EdgeStore, VectorStore, VectorStoreError

# A text's vector never changes for a given model, so cached vectors only go stale by eviction.
EMBEDDING_CACHE_SECONDS = 7 * 24 * 3600
# After a store failure, calls skip the store for this long (writes are marked failed, searches
# degrade at once) instead of each paying a connection timeout; the sweep retries the writes.
STORE_COOLDOWN_SECONDS = 5.0
COOLDOWN_MARK = "unavailable (retrying shortly)"
# Batches of at least this many texts are embedded on EMBED_THREADS cores at once; smaller ones
# (single writes, queries) on one, as the embedder's one-thread-per-call design intends.
PARALLEL_EMBED_MIN = 64
EMBED_THREADS = min(2, os.cpu_count() or 1)


def embedding_cache_key(*, model_name: str, text: str) -> str:
    return f"emb:{model_name}:{hashlib.sha256(text.encode('utf-8', 'surrogatepass')).hexdigest()}"


def texts_embed(*, texts: Sequence[str]) -> tuple[np.ndarray, int]:
    """Unit vectors for `texts` (n, DIMENSION) and how many the model computed (cache misses)."""
    model = embedder()
    keys = [embedding_cache_key(model_name=model.model_name, text=text) for text in texts]
    unique = dict(zip(keys, texts, strict=True))
    found: dict[str, Any] = cache.get_many(list(unique)) if unique else {}
    vectors: dict[str, np.ndarray] = {}
    for key, blob in found.items():
        vector = np.frombuffer(blob, dtype=np.float32) if isinstance(blob, bytes) else None
        if vector is not None and vector.shape == (model.dimension,):
            vectors[key] = vector
    missing = [key for key in unique if key not in vectors]
    if missing:
        started = time.perf_counter()
        computed = _embed_parallel(model, [unique[key] for key in missing])
        metrics.EMBED_SECONDS.observe(time.perf_counter() - started)
        metrics.EMBEDDINGS.inc(len(missing))
        fresh = dict(zip(missing, computed, strict=True))
        vectors.update(fresh)
        cache.set_many({key: vector.tobytes() for key, vector in fresh.items()}, timeout=EMBEDDING_CACHE_SECONDS)
    result = np.zeros((len(texts), model.dimension), dtype=np.float32)
    for row, key in enumerate(keys):
        result[row] = vectors[key]
    return result, len(missing)


def _embed_parallel(model: Embedder, texts: list[str]) -> np.ndarray:
    """A large batch (a bulk write, a reindex) is split over EMBED_THREADS threads: each model
    call uses one core (onnxruntime releases the GIL), so a bulk write uses them all."""
    if len(texts) < PARALLEL_EMBED_MIN or EMBED_THREADS < 2:
        return model.embed(texts)
    # Interleaved by length, so every part gets as much work and as little padding.
    order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
    parts = [order[start::EMBED_THREADS] for start in range(EMBED_THREADS)]
    results = list(_embed_pool().map(lambda part: model.embed([texts[i] for i in part]), parts))
    vectors = np.zeros((len(texts), model.dimension), dtype=np.float32)
    for part, result in zip(parts, results, strict=True):
        vectors[part] = result
    return vectors


_pool: ThreadPoolExecutor | None = None
_pool_lock = threading.Lock()


def _embed_pool() -> ThreadPoolExecutor:
    global _pool
    with _pool_lock:
        if _pool is None:
            _pool = ThreadPoolExecutor(max_workers=EMBED_THREADS, thread_name_prefix="soma-embed")
        return _pool


# --- the store, with a short cool-down after a failure --------------------------------------


class _Cooldown:
    """Remembers the last failure of one store object; a new store (reset) starts clean."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._store: weakref.ref[VectorStore] | None = None
        self._until = 0.0
        self._reason = ""

    def failed(self, store: VectorStore, reason: str) -> None:
        with self._lock:
            self._store, self._until, self._reason = (
                weakref.ref(store),
                time.monotonic() + STORE_COOLDOWN_SECONDS,
                reason,
            )

    def blocking(self, store: VectorStore) -> str | None:
        with self._lock:
            if self._store is not None and self._store() is store and time.monotonic() < self._until:
                return self._reason
            return None

    def clear(self) -> None:
        with self._lock:
            self._store, self._until = None, 0.0


store_cooldown = _Cooldown()
keys_ensured: weakref.WeakSet[VectorStore] = weakref.WeakSet()
_keys_lock = threading.Lock()


def vector_store_ready() -> VectorStore:
    """The process's store, with the operator's payload indexes (SOMA_VECTOR_INDEXED_KEYS).

    Raises VectorStoreError while the store is cooling down after a failure.
    """
    store = get_vector_store()
    reason = store_cooldown.blocking(store)
    if reason is not None:
        raise VectorStoreError(f"vector store {COOLDOWN_MARK}: {reason}")
    if store not in keys_ensured:
        with _keys_lock:
            if store not in keys_ensured:
                payload_indexes_ensure(store=store, keys=settings.SOMA_VECTOR_INDEXED_KEYS)
                keys_ensured.add(store)
    return store


def payload_indexes_ensure(*, store: VectorStore, keys: dict[str, str]) -> list[str]:
    """Field indexes on payload.<key> and metadata.<key>: without one, a filter on that key makes
    the engine read every payload of the tenant (~200 ms at 100k points). Returns the fields created.

    Reaches into the two store classes: creating arbitrary field indexes is an operator's
    option, not part of the search interface.
    """
    wanted = {f"{root}.{key}": kind for key, kind in keys.items() for root in ("payload", "metadata")}
    if not wanted:
        return []
    created = []
    if isinstance(store, EdgeStore):
        import qdrant_edge as qe

        edge_params: dict[str, Callable[[], Any]] = {
            "keyword": lambda: qe.KeywordIndexParams(enable_hnsw=False),
            "integer": lambda: qe.IntegerIndexParams(lookup=True, range=True, enable_hnsw=False),
            "float": lambda: qe.FloatIndexParams(enable_hnsw=False),
            "bool": lambda: qe.BoolIndexParams(enable_hnsw=False),
            "datetime": lambda: qe.DatetimeIndexParams(enable_hnsw=False),
        }
        created = [name for name, kind in wanted.items() if store.field_index_ensure(name, edge_params[kind]())]
    elif isinstance(store, ClientStore) and not store._local:
        from qdrant_client import models as m

        client_params: dict[str, Callable[[], Any]] = {
            "keyword": lambda: m.KeywordIndexParams(type=m.KeywordIndexType.KEYWORD, enable_hnsw=False),
            "integer": lambda: m.IntegerIndexParams(type=m.IntegerIndexType.INTEGER, lookup=True, range=True),
            "float": lambda: m.FloatIndexParams(type=m.FloatIndexType.FLOAT, enable_hnsw=False),
            "bool": lambda: m.BoolIndexParams(type=m.BoolIndexType.BOOL),
            "datetime": lambda: m.DatetimeIndexParams(type=m.DatetimeIndexType.DATETIME),
        }
        with store._using("create field index") as client:
            on_server = set(client.get_collection(store.collection_name).payload_schema)
            for name, kind in wanted.items():
                if name not in on_server:
                    client.create_payload_index(store.collection_name, name, client_params[kind]())
                    created.append(name)
    return created
