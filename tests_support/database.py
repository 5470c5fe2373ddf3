"""A second, raw connection to the test database, for tests that hold locks against the code
under test (lock order, skipped rows)."""

from __future__ import annotations

from typing import Any

import psycopg
from django.db import connection


def raw_params() -> dict[str, Any]:
    """psycopg.connect keyword arguments for the database Django's connection uses."""
    settings = connection.settings_dict
    return {
        "dbname": settings["NAME"],
        "user": settings["USER"],
        "password": settings["PASSWORD"] or None,
        "host": settings["HOST"] or None,
        "port": settings["PORT"] or None,
    }


def blocks_someone(pid: int) -> bool:
    """Whether some backend waits for a lock that backend `pid` holds."""
    with psycopg.connect(**raw_params(), autocommit=True) as probe:
        row = probe.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE %s = ANY(pg_blocking_pids(pid))", [pid]
        ).fetchone()
    return bool(row and row[0])
