"""The Qdrant server store (ClientStore)."""

from __future__ import annotations

import pytest

from tests_support.factories import unit
from vectors.embedding import MODEL_NAME
from vectors.stores.base import VectorStoreError
from vectors.stores.client import ClientStore


def test_client_store_unreachable_server_raises_vector_store_error() -> None:
    store = ClientStore(url="http://127.0.0.1:9", model_name=MODEL_NAME, timeout=1)

    assert not store.healthy()
    with pytest.raises(VectorStoreError):
        store.search(unit(1), tenant="acme")
