"""What the console's login lockout (django-axes) costs the API and the login, in-process.

    .venv/bin/python bench/bench_login_lockout.py [--requests 2000]

On a throwaway database of the PostgreSQL at 127.0.0.1:5432, two Django WSGI handlers run in this
process: one with the settings as shipped (AxesMiddleware, AxesStandaloneBackend first), one with
axes' middleware and backend taken out. Requests alternate between them (A, B, A, B, ...), so
the machine's noise hits both alike. Printed: p50/p99 of GET /healthz and GET /memories/1,2 with
the master token for each, the SQL queries of each request, and the queries and time of one
failed console login (CSRF checks off: what is measured is the login, not the token).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchlib import percentile, wsgi_call

TOKEN = "bench-lockout-token"
DATABASE = f"bench_login_lockout_{os.getpid()}"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=2000)
    args = parser.parse_args()
    print(f"command: {' '.join([Path(sys.executable).name, *sys.argv])}")

    from reliability.processes import shared_database

    url = shared_database(DATABASE)
    try:
        run(url, args.requests)
    finally:
        from django.db import connections

        connections.close_all()
        shared_database(DATABASE, drop_only=True)


def run(database_url: str, requests: int) -> None:
    os.environ.update(
        DATABASE_URL=database_url,
        SOMA_ENV="development",
        SOMA_API_TOKEN=TOKEN,
        DJANGO_SECRET_KEY="bench-secret-key",
        SOMA_VECTOR_STORE="memory",
        SOMA_THROTTLE_KEY_RATE="1000000/m",
        SOMA_THROTTLE_PUBLIC_RATE="1000000/m",
        DJANGO_SETTINGS_MODULE="soma_project.settings",
        SOMA_LOG_LEVEL="ERROR",
    )
    for key in ("REDIS_URL", "QDRANT_URL"):
        os.environ.pop(key, None)
    import django

    django.setup()
    from django.conf import settings
    from django.core.handlers.wsgi import WSGIHandler
    from django.core.management import call_command
    from django.db import connection
    from django.test import Client, override_settings
    from django.test.utils import CaptureQueriesContext

    call_command("migrate", verbosity=0)
    without_axes = {
        "MIDDLEWARE": [m for m in settings.MIDDLEWARE if not m.startswith("axes.")],
        "AUTHENTICATION_BACKENDS": [b for b in settings.AUTHENTICATION_BACKENDS if not b.startswith("axes.")],
    }
    with_handler = WSGIHandler()
    with override_settings(**without_axes):
        without_handler = WSGIHandler()

    def call(application: WSGIHandler, method: str, path: str, body: dict | None = None) -> int:
        return wsgi_call(application, method, path, body, token=TOKEN)

    assert call(with_handler, "POST", "/memories", {"coord": "1,2", "payload": {"content": "a cat"}}) == 200

    def alternate(label: str, make: Callable[[WSGIHandler], int]) -> None:
        samples: dict[str, list[float]] = {"with axes": [], "without axes": []}
        handlers = {"with axes": with_handler, "without axes": without_handler}
        for _ in range(50):
            for handler in handlers.values():
                make(handler)
        for _ in range(requests):
            for name, handler in handlers.items():
                started = time.perf_counter()
                status = make(handler)
                samples[name].append((time.perf_counter() - started) * 1000)
                if status != 200:
                    raise SystemExit(f"{label} {name}: status {status}")
        for name, values in samples.items():
            print(
                f"  {label:<20} {name:<13} p50 {percentile(values, 0.5):6.3f} ms   p99 {percentile(values, 0.99):6.3f} ms"
            )

    print(f"API, in-process, {requests} requests each, alternating:")
    alternate("GET /healthz", lambda h: call(h, "GET", "/healthz"))
    alternate("GET /memories/1,2", lambda h: call(h, "GET", "/memories/1,2"))

    for name, handler in (("with axes", with_handler), ("without axes", without_handler)):
        with CaptureQueriesContext(connection) as queries:
            call(handler, "GET", "/memories/1,2")
        print(f"  SQL queries of GET /memories/1,2 {name}: {len(queries)}")

    from django.contrib.auth.models import User

    User.objects.create_user("bench-user", password="Lantern-harbour-4471")
    print("a failed console login (POST /admin/login/, wrong password, an existing user):")
    for name, overrides in (("with axes", {}), ("without axes", without_axes)):
        with override_settings(**overrides, AXES_FAILURE_LIMIT=1_000_000):
            client = Client()
            client.get("/admin/login/")
            times = []
            for _ in range(5):
                started = time.perf_counter()
                with CaptureQueriesContext(connection) as queries:
                    response = client.post("/admin/login/", {"username": "bench-user", "password": "wrong"})
                times.append((time.perf_counter() - started) * 1000)
                assert response.status_code == 200
        print(f"  {name:<13} {len(queries)} SQL queries, p50 {percentile(times, 0.5):7.1f} ms (PBKDF2 included)")


if __name__ == "__main__":
    main()
