"""What reindex and vectors_check share: opening the store with an operator's error message."""

from __future__ import annotations

from django.conf import settings
from django.core.management.base import CommandError

from vectors.backend import get_vector_store
from vectors.stores.base import VectorStore, VectorStoreError


def open_store() -> VectorStore:
    try:
        store = get_vector_store()
        store.ensure_collection()
    except VectorStoreError as exc:
        raise store_error(exc) from exc
    return store


def store_error(exc: VectorStoreError) -> CommandError:
    message = str(exc)
    if settings.SOMA_VECTOR_STORE == "edge" and ("WouldBlock" in message or "locked" in message):
        folder = settings.SOMA_DATA_DIR / "qdrant"
        return CommandError(
            f"The embedded vector store in {folder} is locked by a running server or another command (one "
            "process owns it). Stop the server, or wait for the other command, and run this again, or point "
            "QDRANT_URL at a Qdrant server."
        )
    return CommandError(f"The vector store is unavailable: {message}")
