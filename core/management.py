"""What every management command of the project shares."""

from __future__ import annotations

from typing import Any

import psycopg
from django.core.management.base import CommandError
from django.db import OperationalError, ProgrammingError

from core.db import connection_params


class DatabaseErrorsExplained:
    """Mixed in before BaseCommand: PostgreSQL unreachable, a database missing or not migrated is
    one line naming the cause (the pool's own error only says it waited 10 s for a connection)
    and exit status 1, instead of a traceback."""

    def execute(self, *args: Any, **options: Any) -> Any:
        try:
            return super().execute(*args, **options)  # type: ignore[misc]
        except OperationalError as exc:
            raise CommandError(f"PostgreSQL cannot be used: {_cause(exc)} (check DATABASE_URL).") from None
        except ProgrammingError as exc:
            if "does not exist" not in str(exc):
                raise
            first = str(exc).splitlines()[0]
            raise CommandError(f"the database is not migrated ({first}): run `manage.py migrate` first.") from None


def _cause(exc: Exception) -> str:
    """What connecting directly says (refused, no such database, authentication), in one line."""
    try:
        with psycopg.connect(**connection_params(), connect_timeout=3):
            pass
    except psycopg.Error as direct:
        return " ".join(str(direct).split())[:300]
    return " ".join(str(exc).split())[:300]
