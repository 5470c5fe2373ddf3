"""Database helpers shared by apps."""

from __future__ import annotations

from django.db import connection


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
