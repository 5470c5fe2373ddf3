"""Database helpers shared by apps."""

from __future__ import annotations

import functools
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import psycopg
from django.db import connection
from django.db.backends.postgresql.base import CursorDebugWrapper
from django.db.backends.utils import CursorWrapper
from django_prometheus.db.common import ExportingCursorWrapper


def connection_params() -> dict[str, Any]:
    """psycopg.connect keyword arguments for the database Django's connection uses: a connection
    of one's own, outside Django's pool (a second session in a lock test, a direct attempt that
    says why the pool could not connect)."""
    settings = connection.settings_dict
    return {
        "dbname": settings["NAME"],
        "user": settings["USER"] or None,
        "password": settings["PASSWORD"] or None,
        "host": settings["HOST"] or None,
        "port": settings["PORT"] or None,
    }


def table_row_estimate(table: str) -> int | None:
    """PostgreSQL's planner estimate of a table's row count; None before its first ANALYZE.

    An unfiltered count of a large table reads every row; the estimate reads one catalogue row.
    """
    with connection.cursor() as cursor:
        cursor.execute("SELECT reltuples::bigint FROM pg_class WHERE oid = %s::regclass", [table])
        row = cursor.fetchone()
    if row is None or row[0] < 0:
        return None
    return int(row[0])


class _PreparingCursor(psycopg.Cursor[Any]):
    """Server-side binding, every statement prepared on its first execution."""

    def execute(
        self, query: Any, params: Any = None, *, prepare: bool | None = None, binary: bool | None = None
    ) -> Any:
        return super().execute(query, params, prepare=True if prepare is None else prepare, binary=binary)


class _PreparedDebugWrapper(CursorDebugWrapper):
    """Logs the statement with its values, as Django does for a server-binding connection (the
    client-binding default reads them back from the cursor, which a prepared execution leaves unset)."""

    def debug_sql(
        self, sql: Any = None, params: Any = None, use_last_executed_query: bool = False, many: bool = False
    ) -> Any:
        if use_last_executed_query:
            sql = self.db.ops.compose_sql(sql, params)
        return super().debug_sql(sql, params, use_last_executed_query=False, many=many)


@functools.cache
def _instrumented_preparing_cursor(alias: str, vendor: str) -> Any:
    # What django_prometheus makes of Django's own cursor class, made once, not per request.
    return ExportingCursorWrapper(_PreparingCursor, alias, vendor)


@contextmanager
def prepared_cursor() -> Iterator[CursorWrapper]:
    """A cursor whose statements the server parses and plans once per connection, not per call.

    Django's cursors bind parameters on the client, which psycopg never prepares; this one binds
    them on the server, so each statement is prepared on its first run on a (pooled) connection
    and executed by name after. Only for statements of a fixed text, run often: every distinct
    text is one more plan kept in the session (psycopg keeps at most `prepared_max`). Queries are
    logged and counted as through `connection.cursor()`. With SOMA_DB_PREPARE=false (a pooler
    that cannot keep prepared statements) it binds on the server and prepares nothing.
    """
    connection.ensure_connection()
    connection.validate_thread_sharing()
    with connection.wrap_database_errors:
        raw = _instrumented_preparing_cursor(connection.alias, connection.vendor)(connection.connection)
    cursor = _PreparedDebugWrapper(raw, connection) if connection.queries_logged else connection.make_cursor(raw)
    with cursor:
        yield cursor
