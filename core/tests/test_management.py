"""core.management: a command run against a PostgreSQL it cannot use says why in one line."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from pathlib import Path

import psycopg
import pytest

from core.db import connection_params

ROOT = Path(__file__).resolve().parents[2]


def _run(command: list[str], database_url: str, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "SOMA_ENV": "development",
        "DATABASE_URL": database_url,
        "SOMA_DATA_DIR": str(tmp_path),
        "SOMA_DB_POOL_TIMEOUT": "1",
        "SOMA_DB_CONNECT_TIMEOUT": "1",
    }
    return subprocess.run(
        [sys.executable, "manage.py", *command], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60
    )


def _url(dbname: str) -> str:
    params = connection_params()
    return f"postgres://{params['user']}@{params['host'] or '127.0.0.1'}:{params['port'] or 5432}/{dbname}"


def _admin() -> psycopg.Connection:
    return psycopg.connect(**connection_params(), autocommit=True)


@pytest.mark.parametrize("command", [["list_api_keys"], ["prune_history", "--dry-run"], ["export_memories", "-o", "-"]])
def test_postgresql_unreachable_is_one_line_naming_the_cause(command: list[str], tmp_path: Path) -> None:
    done = _run(command, "postgres://postgres@127.0.0.1:1/nothing", tmp_path)

    assert done.returncode == 1
    assert "Traceback" not in done.stderr
    assert "CommandError: PostgreSQL cannot be used:" in done.stderr and "Connection refused" in done.stderr


@pytest.mark.django_db
def test_a_database_not_migrated_says_to_migrate(tmp_path: Path) -> None:
    name = f"unmigrated_{uuid.uuid4().hex[:8]}"
    with _admin() as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        done = _run(["list_api_keys"], _url(name), tmp_path)
    finally:
        with _admin() as admin:
            admin.execute(f'DROP DATABASE "{name}" WITH (FORCE)')

    assert done.returncode == 1
    assert "Traceback" not in done.stderr
    assert "the database is not migrated" in done.stderr and "run `manage.py migrate` first" in done.stderr
