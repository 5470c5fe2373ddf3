"""The process's vector store and embedder, chosen by the settings."""

from __future__ import annotations

import threading
import time
from pathlib import Path

from django.conf import settings

from vectors.embedding import DIMENSION, Embedder, get_embedder, model_name_for
from vectors.stores.base import VectorStore, VectorStoreError, collection_name_for
from vectors.stores.client import ClientStore
from vectors.stores.edge import EdgeStore

# While the store cannot create its collection (Qdrant down when the process starts), every
# call says so, but the store is asked again at most this often.
ENSURE_RETRY_SECONDS = 5.0

_lock = threading.Lock()
_store: VectorStore | None = None
_ensured = False
_ensure_error = ""
_next_ensure = 0.0


def get_vector_store() -> VectorStore:
    """The process's store, its collection created on first use.

    Raises VectorStoreError while that fails (callers degrade), and tries again later: a server
    may start before its Qdrant does, and must create the collection once Qdrant answers.
    """
    global _store, _ensured, _ensure_error, _next_ensure
    with _lock:
        if _store is None:
            _store = _build_store()
        if not _ensured:
            now = time.monotonic()
            if now < _next_ensure:
                raise VectorStoreError(_ensure_error)
            try:
                _store.ensure_collection()
            except VectorStoreError as exc:
                _ensure_error, _next_ensure = str(exc), now + ENSURE_RETRY_SECONDS
                raise
            _ensured = True
        return _store


def _build_store() -> VectorStore:
    kind, model_name = settings.SOMA_VECTOR_STORE, embedding_model_name()
    if kind == "qdrant":
        return ClientStore(url=settings.QDRANT_URL, api_key=settings.QDRANT_API_KEY or None, model_name=model_name)
    if kind == "memory":
        return ClientStore(location=":memory:", model_name=model_name)
    return EdgeStore(
        Path(settings.SOMA_DATA_DIR) / "qdrant",
        model_name=model_name,
        flush_interval=settings.SOMA_VECTOR_FLUSH_INTERVAL,
    )


def reset_vector_store(store: VectorStore | None = None) -> None:
    """Swap the process's store (tests, and commands that rebuild it)."""
    global _store, _ensured, _next_ensure
    with _lock:
        if _store is not None and _store is not store:
            _store.close()
        # A store handed in is ready (tests call ensure_collection first); None builds anew.
        _store, _ensured, _next_ensure = store, store is not None, 0.0


def _model_dir() -> Path | None:
    return Path(settings.SOMA_EMBEDDING_MODEL_DIR) if settings.SOMA_EMBEDDING_MODEL_DIR else None


def embedding_model_name() -> str:
    """The embedder's model name, without loading it: the collection is named after it."""
    return model_name_for(model_dir=_model_dir(), quantize=settings.SOMA_EMBEDDING_QUANTIZE)


def vector_collection_name() -> str:
    """Where this configuration's vectors live (model, dimension, layout): what a memory's
    `vector_model` records, so a change of any of them makes its memories dirty."""
    return collection_name_for(model_name=embedding_model_name(), dimension=DIMENSION)


def embedder() -> Embedder:
    quantize_into = Path(settings.SOMA_MODEL_CACHE_DIR) if settings.SOMA_EMBEDDING_QUANTIZE else None
    return get_embedder(_model_dir(), quantize_into)


def vector_store_healthy() -> bool:
    try:
        return get_vector_store().healthy()
    except Exception:
        return False


def embedder_healthy() -> bool:
    return embedder().embed(["ok"]).shape[0] == 1
