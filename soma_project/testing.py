"""pytest plugin (`-p soma_project.testing` in pytest.ini), loaded before Django's settings.

Tests use the PostgreSQL on 127.0.0.1:5432 and the Redis on 127.0.0.1:6379 when they answer,
the embedded PostgreSQL and the local-memory cache where nothing listens. An explicit
DATABASE_URL / REDIS_URL in the environment wins.
"""

from __future__ import annotations

import os
import socket
import tempfile


def _listening(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False


def configure_test_environment() -> None:
    if "SOMA_TEST_DATA_DIR" not in os.environ:
        os.environ["SOMA_TEST_DATA_DIR"] = tempfile.mkdtemp(prefix="soma-test-")
    data_dir = os.environ["SOMA_TEST_DATA_DIR"]
    os.environ["SOMA_DATA_DIR"] = data_dir
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "soma_project.settings")
    os.environ["SOMA_ENV"] = "development"
    os.environ.setdefault("SOMA_API_TOKEN", "test-master-token")
    os.environ.setdefault("DJANGO_SECRET_KEY", "test-secret-key-not-for-production")
    os.environ.setdefault("SOMA_VECTOR_STORE", "edge")
    # A developer's .env (copied from .env.template) must not drop Django's test host.
    os.environ["ALLOWED_HOSTS"] = "localhost,127.0.0.1,[::1],testserver"
    # Test databases are created and dropped per run: a pool would hold connections open.
    os.environ.setdefault("SOMA_DB_POOL", "false")
    # No flush thread writing access counts from another connection: tests flush explicitly.
    os.environ.setdefault("SOMA_ACCESS_FLUSH_SECONDS", "0")
    if "DATABASE_URL" not in os.environ and _listening("127.0.0.1", 5432):
        # SOMA_TEST_DB lets parallel runs keep apart (pytest-django prefixes it with test_).
        os.environ["DATABASE_URL"] = f"postgres://postgres@127.0.0.1:5432/{os.environ.get('SOMA_TEST_DB', 'soma')}"
    if "REDIS_URL" not in os.environ and _listening("127.0.0.1", 6379):
        os.environ["REDIS_URL"] = f"redis://127.0.0.1:6379/{os.environ.get('SOMA_TEST_REDIS_DB', '15')}"


configure_test_environment()


def pytest_sessionfinish(session: object, exitstatus: int) -> None:
    """Hits the tests recorded and never flushed are dropped: at exit the test database is gone,
    and the buffer's exit flush would only log that it could not write them."""
    from memories.access import access_buffer

    access_buffer.discard()
