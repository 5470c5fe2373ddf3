"""`make run`: migrate, then serve on SOMA_BIND (default 127.0.0.1:9595).

Embedded default (no QDRANT_URL): one process that owns the embedded Qdrant engine (and the
embedded PostgreSQL unless DATABASE_URL is set), serving Django's WSGI handler with waitress's
SOMA_THREADS threads. Every view is synchronous, and a thread-pool WSGI server runs each request
without the event-loop/thread handoffs of ASGI: 0.7 ms for /healthz against 1.5 ms through
uvicorn (README, "Serving"). With QDRANT_URL and DATABASE_URL: gunicorn with SOMA_WORKERS uvicorn
workers, as docs/design.md has it for production.
"""

from __future__ import annotations

import os
import signal
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "soma_project.settings")
# One intra-op thread per process: on small machines more threads fight the request workers.
os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")


def _bind() -> tuple[str, int]:
    host, _, port = os.environ.get("SOMA_BIND", "127.0.0.1:9595").rpartition(":")
    return host.strip("[]") or "127.0.0.1", int(port)


def main() -> None:
    import django
    from django.conf import settings
    from django.core.management import call_command

    django.setup()
    call_command("migrate", interactive=False, verbosity=0)
    host, port = _bind()
    multi_process = bool(settings.QDRANT_URL) and not settings.SOMA_EMBEDDED_POSTGRES
    workers = int(os.environ.get("SOMA_WORKERS", "2")) if multi_process else 1
    parts = [
        "PostgreSQL: embedded" if settings.SOMA_EMBEDDED_POSTGRES else "PostgreSQL: DATABASE_URL",
        "Qdrant: " + ("QDRANT_URL" if settings.QDRANT_URL else "embedded engine"),
        "cache: " + ("Redis" if settings.REDIS_URL else "local memory"),
    ]
    mode = (
        f"{workers} workers"
        if multi_process
        else f"one process, {settings.SOMA_THREADS} threads (embedded stores belong to one process; set QDRANT_URL and DATABASE_URL for several workers)"
    )
    print(
        f"SomaFractalMemory {settings.SOMA_VERSION} on http://{host}:{port}  [{', '.join(parts)}; {mode}]", flush=True
    )
    if settings.SOMA_API_TOKEN_GENERATED:
        print(
            f"Development token (stored in {settings.SOMA_DATA_DIR / 'api_token'}): {settings.SOMA_API_TOKEN}",
            flush=True,
        )
        print(f"  curl -H 'Authorization: Bearer {settings.SOMA_API_TOKEN}' http://{host}:{port}/memories", flush=True)

    if multi_process:
        _exec_gunicorn(host, port, workers)
    else:
        import waitress

        from soma_project.purger import purger_start
        from soma_project.wsgi import application
        from vectors.backend import embedder, get_vector_store
        from vectors.embedding import EmbeddingError
        from vectors.index_builder import index_builder_start
        from vectors.services.maintenance import points_recover
        from vectors.stores.base import VectorStoreError
        from vectors.sweeper import sweeper_start

        recovered = 0
        try:
            get_vector_store()  # open the embedded engine before the first request, not during it
            # Vectors a power cut may have lost (written after the engine's last flush).
            recovered = points_recover()
        except VectorStoreError as exc:  # e.g. QDRANT_URL not answering yet: serve degraded, retry later
            print(f"vector store unavailable, serving degraded until it answers: {exc}", file=sys.stderr, flush=True)
        try:
            embedder()  # likewise the model (built once into SOMA_MODEL_CACHE_DIR: ~2 s the first time)
        except EmbeddingError as exc:  # serve anyway: writes stay pending, search degrades
            print(f"embedding model unavailable: {exc}", file=sys.stderr, flush=True)
        # No cron job can open the embedded store while we hold it: sweep dirty vectors in-process.
        if recovered:
            print(f"{recovered} memories indexed after the vector store's last flush: indexing them again", flush=True)
        sweeper_start(interval=settings.SOMA_REINDEX_INTERVAL, now=recovered > 0)
        # Likewise the purge of expired memories (read-time expiry already hides them).
        purger_start(interval=settings.SOMA_PURGE_INTERVAL)
        # Nor can a command build its search index: a child process builds it on a copy.
        builder = index_builder_start(threshold=settings.SOMA_INDEX_THRESHOLD)
        # SIGTERM's default would kill the process and skip atexit, leaving the embedded PostgreSQL
        # running. As SystemExit, waitress stops accepting, lets running requests finish (up to
        # 5 s) and returns; then the store closes and atexit stops PostgreSQL.
        signal.signal(signal.SIGTERM, _exit_cleanly)
        try:
            server = waitress.create_server(
                application,
                host=host,
                port=port,
                threads=settings.SOMA_THREADS,
                ident="SomaFractalMemory",
                # Our middleware answers oversized bodies with 413 in the API's error shape; waitress
                # would answer them in plain text, so its own limit stays far above ours.
                max_request_body_size=max(1 << 30, 4 * settings.SOMA_MAX_BODY_BYTES),
                # waitress 3 drops X-Forwarded-* from every peer unless told which proxy to trust. Django
                # gets the peer address and the headers as sent, as under gunicorn, and
                # soma_project/client_address.py alone decides (SOMA_NUM_PROXIES, SOMA_TRUSTED_PROXIES).
                clear_untrusted_proxy_headers=False,
            )
            server.run()
        finally:
            from vectors.backend import reset_vector_store

            application.close()  # the MCP event loop, if /mcp was used
            if builder is not None:
                builder.stop(timeout=0.5)  # a build under way is killed by closing the store
            reset_vector_store(None)  # close (and flush) the embedded engine


def _exit_cleanly(signum: int, frame: object) -> None:
    raise SystemExit(0)


def _exec_gunicorn(host: str, port: int, workers: int) -> None:
    multiproc_dir = os.environ.setdefault("PROMETHEUS_MULTIPROC_DIR", str(ROOT / "var" / "prometheus"))
    Path(multiproc_dir).mkdir(parents=True, exist_ok=True)
    for stale in Path(multiproc_dir).glob("*.db"):
        stale.unlink()
    gunicorn = str(Path(sys.executable).with_name("gunicorn"))
    args = [
        gunicorn,
        "soma_project.asgi:application",
        "-k",
        "uvicorn.workers.UvicornWorker",
        "-w",
        str(workers),
        "-b",
        f"{host}:{port}",
        "-c",
        str(ROOT / "soma_project" / "gunicorn_conf.py"),
        "--timeout",
        os.environ.get("SOMA_WORKER_TIMEOUT", "60"),
    ]
    os.execv(gunicorn, args)  # noqa: S606 - fixed argv, replaces this process


if __name__ == "__main__":
    main()
