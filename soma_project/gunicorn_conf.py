"""gunicorn settings (passed with -c): Prometheus multiprocess bookkeeping, and the client address."""

from typing import Any

# uvicorn workers would otherwise replace the peer address with the X-Forwarded-For entry of any
# request from 127.0.0.1 (gunicorn's FORWARDED_ALLOW_IPS default), so that a local client could
# choose its address. Django sees the socket's peer, as under waitress, and
# soma_project/client_address.py alone decides whether to believe a forwarding header
# (SOMA_NUM_PROXIES, SOMA_TRUSTED_PROXIES).
forwarded_allow_ips = ""


def child_exit(server: Any, worker: Any) -> None:
    # Prometheus multiprocess mode needs dead workers' files marked.
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)
