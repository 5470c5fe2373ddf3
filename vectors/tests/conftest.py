from __future__ import annotations

import socket
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from memories.models import Memory
from vectors.backend import embedding_model_name, reset_vector_store
from vectors.embedding import MODEL_NAME
from vectors.runtime import store_cooldown
from vectors.stores.base import VectorStore
from vectors.stores.client import ClientStore
from vectors.stores.edge import EdgeStore


def make_store(kind: str, tmp_path: Path) -> VectorStore:
    """A store of the configured model's collection, as the server would open."""
    if kind == "edge":
        return EdgeStore(tmp_path / "qdrant", model_name=embedding_model_name())
    return ClientStore(location=":memory:", model_name=embedding_model_name())


def install(store: VectorStore) -> VectorStore:
    store.ensure_collection()
    store_cooldown.clear()
    reset_vector_store(store)
    return store


@pytest.fixture(params=["edge", "client"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[VectorStore]:
    """A clean store of each implementation, on its own (not the process's store)."""
    made: VectorStore = (
        EdgeStore(tmp_path / "qdrant", model_name=MODEL_NAME)
        if request.param == "edge"
        else ClientStore(location=":memory:", model_name=MODEL_NAME)
    )
    made.ensure_collection()
    yield made
    made.close()


@pytest.fixture(params=["edge", "client"])
def vector_store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[VectorStore]:
    """A clean store of each implementation (embedded engine, qdrant-client) as the process's store."""
    store = install(make_store(request.param, tmp_path))
    yield store
    # Closes this store; the next user gets the one the settings name.
    reset_vector_store(None)
    store_cooldown.clear()


@pytest.fixture
def edge_store(tmp_path: Path) -> Iterator[VectorStore]:
    store = install(make_store("edge", tmp_path))
    yield store
    reset_vector_store(None)
    store_cooldown.clear()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def store_down() -> Iterator[Callable[[], VectorStore]]:
    """Swap in a Qdrant server client whose server is down (nothing listens on its port)."""
    made: list[VectorStore] = []

    def swap() -> VectorStore:
        store = ClientStore(url=f"http://127.0.0.1:{free_port()}", model_name=embedding_model_name(), timeout=1)
        store_cooldown.clear()
        reset_vector_store(store)
        made.append(store)
        return store

    yield swap
    if made:
        reset_vector_store(None)
        store_cooldown.clear()


@pytest.fixture
def write(api: Any, django_capture_on_commit_callbacks: Any) -> Callable[..., Memory]:
    """POST /memories and run the after-commit indexing, as a real request's commit would."""

    def make(text: str, *, client: Any = None, **fields: Any) -> Memory:
        body = {"payload": fields.pop("payload", {"content": text}), "text": text, **fields}
        with django_capture_on_commit_callbacks(execute=True):
            response = (client or api).post("/memories", body)
        assert response.status_code == 200, response.content
        return Memory.objects.get(pk=response.json()["memory"]["id"])

    return make
