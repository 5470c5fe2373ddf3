"""The client is tested against live servers (scripts/serve.py in a subprocess), never a mock."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
from somafractalmemory_client import SomaClient

from reliability.processes import MASTER_TOKEN, LiveServer, shared_database
from reliability.tests.conftest import SHARED_REDIS, private_postgres, start_server  # noqa: F401 - fixtures

_NAME = f"client_live_{os.environ.get('SOMA_TEST_DB', 'client')}_{os.getpid()}"


@pytest.fixture(scope="module")
def soma_live() -> Iterator[LiveServer]:
    server = LiveServer(database_url=shared_database(_NAME), redis_url=SHARED_REDIS)
    try:
        server.start()
        yield server
    finally:
        server.cleanup()
        shared_database(_NAME, drop_only=True)


@pytest.fixture
def soma(soma_live: LiveServer) -> Iterator[SomaClient]:
    with SomaClient(soma_live.url, token=MASTER_TOKEN) as client:
        yield client
