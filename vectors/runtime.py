"""What reads and writes share: cached embeddings, and the store with its failure cool-down."""

from __future__ import annotations

import hashlib
import os
import threading
import time
import weakref
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np
from django.conf import settings
from django.core.cache import cache

from vectors import metrics
from vectors.backend import embedder, get_vector_store
from vectors.embedding import Embedder
from vectors.stores.base import VectorStore, VectorStoreError

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
                store.payload_indexes_ensure(keys=settings.SOMA_VECTOR_INDEXED_KEYS)
                keys_ensured.add(store)
    return store
