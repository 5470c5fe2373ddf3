"""gunicorn hooks: Prometheus multiprocess mode needs dead workers' files marked."""

from typing import Any


def child_exit(server: Any, worker: Any) -> None:
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)
