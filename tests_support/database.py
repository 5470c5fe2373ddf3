"""A second, raw connection to the test database, for tests that hold locks against the code
under test (lock order, skipped rows)."""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from typing import Any, Literal

import psycopg
from django.db import connection

from core.db import connection_params
from tests_support.waiting import wait_until


def blocks_someone(pid: int) -> bool:
    """Whether some backend waits for a lock that backend `pid` holds."""
    with psycopg.connect(**connection_params(), autocommit=True) as probe:
        row = probe.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE %s = ANY(pg_blocking_pids(pid))", [pid]
        ).fetchone()
    return bool(row and row[0])


_LOCK_SQL = {
    "FOR UPDATE": "SELECT id FROM memories_memory WHERE id = %s FOR UPDATE",
    "FOR NO KEY UPDATE": "SELECT id FROM memories_memory WHERE id = %s FOR NO KEY UPDATE",
}


def locked_in_turn(
    ids: Sequence[Any], *, meanwhile: Callable[[], Any], lock: Literal["FOR UPDATE", "FOR NO KEY UPDATE"] = "FOR UPDATE"
) -> dict[str, Any]:
    """Another transaction taking row locks on memories `ids` one by one, in that order, while
    `meanwhile()` runs in a thread: the first lock is taken, `meanwhile` starts and must come to
    wait for it, then the others are taken and the transaction commits. Had `meanwhile` locked
    one of the later rows before waiting, this would deadlock (PostgreSQL aborts one side after a
    second: our lock or its call fails). Returns {"result": its answer} or {"error": exception}."""
    outcome: dict[str, Any] = {}

    def run() -> None:
        try:
            outcome["result"] = meanwhile()
        except Exception as exc:
            outcome["error"] = exc
        finally:
            connection.close()

    with psycopg.connect(**connection_params(), autocommit=False) as other:
        cursor = other.cursor()
        cursor.execute("SET lock_timeout = '5s'")
        cursor.execute("SELECT pg_backend_pid()")
        pid = cursor.fetchone()[0]  # type: ignore[index]
        cursor.execute(_LOCK_SQL[lock], [ids[0]])
        worker = threading.Thread(target=run)
        worker.start()
        try:
            wait_until(lambda: blocks_someone(pid), timeout=10, what="the call to wait for the first lock")
            for memory_id in ids[1:]:
                cursor.execute(_LOCK_SQL[lock], [memory_id])
            other.commit()
        finally:
            other.rollback()
            worker.join(timeout=10)
    return outcome
