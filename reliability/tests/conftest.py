"""Live-server fixtures: each test talks real HTTP to `scripts/serve.py` in a subprocess, on a
database of its own (never the pytest-django test database, which tests hold in transactions).
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any

import psycopg
import pytest

from reliability.processes import LiveServer, PrivatePostgres, PrivateRedis, shared_database

_PREFIX = f"rely_live_{os.environ.get('SOMA_TEST_DB', 'rely')}_{os.getpid()}"
_counter = itertools.count()
SHARED_REDIS = f"redis://127.0.0.1:6379/{os.environ.get('SOMA_TEST_REDIS_DB', '4')}"


def query(database_url: str, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    with psycopg.connect(database_url, autocommit=True, connect_timeout=5) as conn:
        return conn.execute(sql, params).fetchall()  # type: ignore[arg-type]


@contextmanager
def server_on_shared_database(name: str, env: Mapping[str, str] | None = None) -> Iterator[LiveServer]:
    """A server on a fresh database `name` of the shared PostgreSQL, and the shared Redis; the database is dropped after."""
    server = LiveServer(database_url=shared_database(name), redis_url=SHARED_REDIS, env=env)
    try:
        server.start()
        yield server
    finally:
        server.cleanup()
        shared_database(name, drop_only=True)


@pytest.fixture
def start_server() -> Iterator[Callable[..., LiveServer]]:
    """Start a server on a fresh database (shared PostgreSQL unless `database_url` is given)."""
    servers: list[LiveServer] = []
    databases: list[str] = []

    def start(*, database_url: str | None = None, redis_url: str = SHARED_REDIS, **env: str) -> LiveServer:
        if database_url is None:
            name = f"{_PREFIX}_{next(_counter)}"
            databases.append(name)
            database_url = shared_database(name)
        server = LiveServer(database_url=database_url, redis_url=redis_url, env=env)
        servers.append(server)
        server.start()
        return server

    yield start
    for server in servers:
        server.cleanup()
    for name in databases:
        shared_database(name, drop_only=True)


@pytest.fixture(scope="module")
def soma_server() -> Iterator[LiveServer]:
    """One server for a whole module (fuzzing, security, concurrency), on the shared PostgreSQL and Redis."""
    # DEBUG logging, so that test_security can search everything the server logged.
    with server_on_shared_database(f"{_PREFIX}_m{next(_counter)}", {"SOMA_LOG_LEVEL": "DEBUG"}) as server:
        yield server


@pytest.fixture
def private_redis() -> Iterator[PrivateRedis]:
    redis = PrivateRedis()
    redis.start()
    yield redis
    redis.stop()


@pytest.fixture
def private_postgres() -> Iterator[PrivatePostgres]:
    postgres = PrivatePostgres()
    postgres.init()
    yield postgres
    postgres.destroy()
