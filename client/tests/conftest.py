"""The client is tested against live servers (scripts/serve.py in a subprocess), never a mock."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
from somafractalmemory_client import SomaClient

from reliability.processes import MASTER_TOKEN, LiveServer
from reliability.tests.conftest import private_postgres, server_on_shared_database, start_server  # noqa: F401

_NAME = f"client_live_{os.environ.get('SOMA_TEST_DB', 'client')}_{os.getpid()}"


@pytest.fixture(scope="module")
def soma_live() -> Iterator[LiveServer]:
    with server_on_shared_database(_NAME) as server:
        yield server


@pytest.fixture
def soma(soma_live: LiveServer) -> Iterator[SomaClient]:
    with SomaClient(soma_live.url, token=MASTER_TOKEN) as client:
        yield client
