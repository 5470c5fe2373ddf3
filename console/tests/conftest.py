from __future__ import annotations

import importlib
import socket
from collections.abc import Callable, Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from django.apps import apps as django_apps
from django.contrib.auth.models import Group, User
from django.db import connection
from django.test import Client

from memories.models import Memory
from tests_support.factories import memory_upserted
from vectors.backend import embedding_model_name, reset_vector_store
from vectors.runtime import store_cooldown
from vectors.stores.base import VectorStore
from vectors.stores.client import ClientStore
from vectors.stores.edge import EdgeStore


def run_curators_migration() -> None:
    """The data migration's own function, on the current models."""
    migration = importlib.import_module("console.migrations.0001_curators_group")
    migration.create_curators(django_apps, SimpleNamespace(connection=connection))


@pytest.fixture
def curators_group(db: Any) -> Group:
    # A transactional test (live_server) flushes the tables, migration data included, and
    # --reuse-db keeps whatever an older run left: (re)apply the migration's grants, idempotently.
    run_curators_migration()
    return Group.objects.get(name="Curators")


@pytest.fixture
def curator(curators_group: Group) -> User:
    user = User.objects.create_user("curator", password="curator-password-1", is_staff=True)
    user.groups.add(curators_group)
    return user


@pytest.fixture
def curator_client(curator: User) -> Client:
    client = Client()
    client.force_login(curator)
    return client


@pytest.fixture
def admin_client_super(db: Any) -> Client:
    user = User.objects.create_superuser("root", password="root-password-1")
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def make_memory(db: Any) -> Callable[..., Memory]:
    """A memory stored through the services, in tenant "acme" unless told."""
    return memory_upserted


@pytest.fixture(autouse=True)
def fresh_vector_store(tmp_path: Path) -> Iterator[VectorStore]:
    """Each test gets an empty embedded store: points must not leak from one test into the next."""
    store = EdgeStore(tmp_path / "qdrant", model_name=embedding_model_name())
    store.ensure_collection()
    store_cooldown.clear()
    reset_vector_store(store)
    yield store
    reset_vector_store(None)
    store_cooldown.clear()


@pytest.fixture
def qdrant_down(fresh_vector_store: VectorStore) -> Iterator[None]:
    """A Qdrant server that is not running: a client store pointed at a port nothing listens on."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    reset_vector_store(ClientStore(url=f"http://127.0.0.1:{port}", model_name=embedding_model_name(), timeout=1))
    store_cooldown.clear()
    yield
