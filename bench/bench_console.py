"""Curator console (Django admin) on 100,000 memories: page latency and query counts (issue 5).

    .venv/bin/python bench/bench_console.py [--rows 100000] [--repeat 20] [--db soma_bench_console]

Uses the PostgreSQL on 127.0.0.1:5432 (database --db, created and seeded on first run, kept for
later runs), the process-local cache, and Django's test client in-process (no HTTP server, so the
figures are the admin's own cost). Search is measured with and without the trigram index on
payload::text (console migration 0002); so is the cost that index adds to bulk upserts.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

WORDS = [
    "coffee",
    "meeting",
    "project",
    "deadline",
    "holiday",
    "invoice",
    "recipe",
    "garden",
    "concert",
    "flight",
    "doctor",
    "birthday",
    "library",
    "contract",
    "python",
    "database",
    "mountain",
    "river",
    "bicycle",
    "piano",
]

SEED_SQL = """
INSERT INTO memories_memory
    (id, tenant, namespace, coordinate, coord_key, memory_type, payload, text, metadata, importance,
     created_at, updated_at, vector_status, vector_model, vector_error)
SELECT
    md5('m' || i)::uuid,
    'tenant' || (i %% 5),
    'ns' || (i %% 20),
    ARRAY[i::double precision, (i %% 97)::double precision],
    (i::double precision)::text || '.0,' || ((i %% 97)::double precision)::text || '.0',
    CASE WHEN i %% 3 = 0 THEN 'semantic' ELSE 'episodic' END,
    jsonb_build_object(
        'content', t.text,
        'user_id', 'user-' || (i %% 1000),
        'tags', jsonb_build_array((%(w)s::text[])[1 + i %% 20], (%(w)s::text[])[1 + (i / 20) %% 20]),
        'ref', md5('r' || i)
    ),
    t.text,
    jsonb_build_object('source', 'bench'),
    (i %% 100) / 100.0,
    now() - make_interval(secs => i * 30),
    now(),
    CASE WHEN i %% 50 = 0 THEN 'pending' ELSE 'indexed' END,
    '', ''
FROM generate_series(%(start)s, %(stop)s - 1) AS i,
LATERAL (SELECT 'Note ' || i || ' about the ' || (%(w)s::text[])[1 + i %% 20] || ' and the ' || (%(w)s::text[])[1 + (i * 7) %% 20]
         || ' with ' || (%(w)s::text[])[1 + (i * 13) %% 20] || ', ' || md5(i::text) AS text) t
"""
TRGM_INDEX = "console_memory_payload_trgm"


def percentile(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def setup_django(db: str) -> None:
    import psycopg

    with psycopg.connect("postgresql://postgres@127.0.0.1:5432/postgres", autocommit=True) as conn:
        if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [db]).fetchone():
            conn.execute(f'CREATE DATABASE "{db}"')
    os.environ.update(
        DATABASE_URL=f"postgres://postgres@127.0.0.1:5432/{db}",
        SOMA_ENV="development",
        SOMA_DB_POOL="false",
        SOMA_DATA_DIR=tempfile.mkdtemp(prefix="soma-bench-console-"),
        SOMA_API_TOKEN="bench",
        DJANGO_SECRET_KEY="bench-secret",
        DJANGO_SETTINGS_MODULE="soma_project.settings",
        SOMA_LOG_LEVEL="WARNING",
    )
    os.environ.pop("REDIS_URL", None)
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)


def seed(rows: int) -> None:
    from django.db import connection

    from memories.models import Memory

    have = Memory.objects.count()
    if have >= rows:
        return
    print(f"seeding {rows - have} memories ...", flush=True)
    started = time.perf_counter()
    with connection.cursor() as cursor:
        for start in range(have, rows, 20_000):
            stop = min(rows, start + 20_000)
            cursor.execute(SEED_SQL, {"w": WORDS, "start": start, "stop": stop})
        # The steady state autovacuum keeps: statistics and a visibility map (index-only counts).
        cursor.execute("VACUUM ANALYZE memories_memory")
    print(f"seeded in {time.perf_counter() - started:.1f} s", flush=True)


def measure(client, name: str, url: str, repeat: int, method: str = "get", data=None) -> None:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    for _ in range(2):
        getattr(client, method)(url, data or {})
    samples = []
    queries = 0
    for _ in range(repeat):
        with CaptureQueriesContext(connection) as ctx:
            started = time.perf_counter()
            response = getattr(client, method)(url, data or {})
            samples.append((time.perf_counter() - started) * 1000)
        assert response.status_code in (200, 302), (url, response.status_code)
        queries = len(ctx.captured_queries)
    rows = ""
    if response.context and response.context.get("cl") is not None:
        rows = f" rows={response.context['cl'].result_count}"
    print(
        f"{name:<44} p50={percentile(samples, 0.5):7.1f} ms  p95={percentile(samples, 0.95):7.1f} ms  "
        f"mean={statistics.fmean(samples):7.1f} ms  queries={queries}{rows}"
    )


def set_trigram(enabled: bool) -> None:
    from django.db import connection

    with connection.cursor() as cursor:
        if enabled:
            cursor.execute(
                f"CREATE INDEX IF NOT EXISTS {TRGM_INDEX} ON memories_memory USING gin ((payload::text) gin_trgm_ops)"
            )
        else:
            cursor.execute(f"DROP INDEX IF EXISTS {TRGM_INDEX}")
        cursor.execute("ANALYZE memories_memory")


def upsert_rate(count: int) -> float:
    import uuid

    from django.db import transaction
    from django.utils import timezone

    from memories.history_services import SYSTEM_ACTOR
    from memories.services.create import MemoryDraft, memory_row
    from memories.services.upsert import upsert_rows

    now = timezone.now()
    rows = [
        memory_row(
            tenant="benchwrite", draft=MemoryDraft(payload={"content": f"write {i} {uuid.uuid4()}", "n": i}), now=now
        )
        for i in range(count)
    ]
    started = time.perf_counter()
    with transaction.atomic():
        upsert_rows(rows, tenant="benchwrite", now=now, actor=SYSTEM_ACTOR)
        elapsed = time.perf_counter() - started
        transaction.set_rollback(True)
    return count / elapsed


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=20)
    parser.add_argument("--db", default="soma_bench_console")
    parser.add_argument("--index", type=int, default=1000, help="memories embedded for the change page's similar list")
    args = parser.parse_args()
    print("command:", " ".join([Path(sys.executable).name, *sys.argv]))
    setup_django(args.db)
    seed(args.rows)
    setup_test_env()

    from django.contrib.auth.models import User
    from django.test import Client

    from memories.models import Memory

    user = User.objects.filter(username="bench").first() or User.objects.create_superuser("bench", password="x")
    client = Client()
    client.force_login(user)
    sample = Memory.objects.filter(tenant="tenant1").order_by("-created_at").first()
    assert sample is not None
    print(f"memories: {Memory.objects.count()}")
    cl = "/admin/memories/memory/"
    measure(client, "index (panel: counts per tenant/type)", "/admin/", args.repeat)
    measure(client, "changelist, unfiltered", cl, args.repeat)
    measure(client, "changelist, page 50", cl + "?p=50", args.repeat)
    measure(client, "changelist, tenant filter", cl + "?tenant=tenant1", args.repeat)
    measure(
        client,
        "changelist, tenant+namespace+type",
        cl + "?tenant=tenant1&namespace=ns6&memory_type__exact=episodic",
        args.repeat,
    )
    measure(client, "changelist, vector_status=pending", cl + "?vector_status__exact=pending", args.repeat)
    measure(client, "changelist, created past 7 days", cl + "?created_at__gte=" + _days_ago(7), args.repeat)
    # The store is fresh per run: index the sample's namespace neighbours so "similar" has points.
    from vectors.services.indexing import memories_index

    nearby = Memory.objects.filter(tenant=sample.tenant, namespace=sample.namespace).order_by("-created_at")
    started = time.perf_counter()
    summary = memories_index(ids=list(nearby.values_list("pk", flat=True)[: args.index]))
    print(f"indexed {summary.indexed} memories for the change page in {time.perf_counter() - started:.1f} s")
    measure(client, "change page (similar: 10 hits)", f"{cl}{sample.pk}/change/", args.repeat)
    for enabled in (False, True):
        set_trigram(enabled)
        label = "trgm" if enabled else "no trgm"
        measure(client, f"search 'piano' (common word) [{label}]", cl + "?q=piano", args.repeat)
        measure(client, f"search md5 fragment (rare) [{label}]", cl + "?q=" + _rare_term(), args.repeat)
        measure(client, f"search 'user-417' (payload) [{label}]", cl + "?q=user-417", args.repeat)
        measure(client, f"search 'nosuchthing' (no hit) [{label}]", cl + "?q=nosuchthing", args.repeat)
        print(f"bulk upsert of 5000 rows [{label}]: {upsert_rate(5000):,.0f} rows/s")


def _days_ago(days: int) -> str:
    from datetime import timedelta

    from django.utils import timezone

    return (timezone.now() - timedelta(days=days)).strftime("%Y-%m-%d+00:00:00%%2B00:00")


def _rare_term() -> str:
    import hashlib

    return hashlib.md5(b"ref-unused").hexdigest()[:6] + "x"


def setup_test_env() -> None:
    from django.test.utils import setup_test_environment

    setup_test_environment()
    from django.conf import settings

    settings.ALLOWED_HOSTS = ["testserver"]


if __name__ == "__main__":
    main()
