"""The process's vector store and embedder, chosen by the settings."""

from __future__ import annotations

import threading
from pathlib import Path

from django.conf import settings

from vectors.embedding import Embedder, get_embedder
from vectors.stores import ClientStore, EdgeStore, VectorStore

_lock = threading.Lock()
_store: VectorStore | None = None


def get_vector_store() -> VectorStore:
    global _store
    with _lock:
        if _store is None:
            _store = _build_store()
            _store.ensure_collection()
        return _store


def _build_store() -> VectorStore:
    kind = settings.SOMA_VECTOR_STORE
    if kind == "qdrant":
        return ClientStore(url=settings.QDRANT_URL, api_key=settings.QDRANT_API_KEY or None)
    if kind == "memory":
        return ClientStore(location=":memory:")
    return EdgeStore(Path(settings.SOMA_DATA_DIR) / "qdrant")


def reset_vector_store(store: VectorStore | None = None) -> None:
    """Swap the process's store (tests, and commands that rebuild it)."""
    global _store
    with _lock:
        if _store is not None and _store is not store:
            _store.close()
        _store = store


def embedder() -> Embedder:
    model_dir = settings.SOMA_EMBEDDING_MODEL_DIR
    return get_embedder(Path(model_dir) if model_dir else None)


def vector_store_healthy() -> bool:
    try:
        return get_vector_store().healthy()
    except Exception:
        return False


def embedder_healthy() -> bool:
    return embedder().embed(["ok"]).shape[0] == 1
