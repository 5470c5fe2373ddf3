"""Round-trip a large store through export_memories / import_memories and prove it exact.

    .venv/bin/python bench/export_import_roundtrip.py [--memories 100000]

Uses its own database on the PostgreSQL at 127.0.0.1:5432 (dropped at the end): fills it with
N memories in 5 tenants and N/5 links, fingerprints every exported column (md5 over all rows),
exports, empties the tables, imports, fingerprints again, then re-imports (which must create
nothing). Prints the timings.
"""

from __future__ import annotations

import argparse
import io
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

DATABASE = "rely_bench_roundtrip"
MEMORY_FINGERPRINT = """
SELECT count(*), md5(string_agg(concat_ws('|', id, tenant, namespace, coordinate::text, coord_key, memory_type,
       payload::text, text, metadata::text, importance::text, created_at::text, updated_at::text), E'\\n' ORDER BY id))
FROM memories_memory
"""
LINK_FINGERPRINT = """
SELECT count(*), md5(string_agg(concat_ws('|', tenant, source_id, target_id, link_type, strength::text, metadata::text,
       created_at::text), E'\\n' ORDER BY source_id, target_id, link_type))
FROM graph_link
"""
FILL = """
INSERT INTO memories_memory (id, tenant, namespace, coordinate, coord_key, memory_type, payload, text, metadata,
    importance, created_at, updated_at, vector_status, vector_model, vector_error)
SELECT gen_random_uuid(), 't' || (i %% 5), CASE WHEN i %% 4 = 0 THEN 'notes' ELSE 'default' END,
    ARRAY[i::float8, (i %% 4) * 0.25], i || '.0,' || (ARRAY['0.0', '0.25', '0.5', '0.75'])[i %% 4 + 1],
    CASE WHEN i %% 3 = 0 THEN 'semantic' ELSE 'episodic' END,
    jsonb_build_object('content', 'memory number ' || i || ' café ✓', 'n', i, 'tags', jsonb_build_array('a', 'b')),
    'memory number ' || i, jsonb_build_object('src', 'bench', 'score', (i / 7.0)::float8),
    (i %% 11) / 10.0, clock_timestamp() - i * interval '1.000137 second', clock_timestamp(), 'indexed', 'm', ''
FROM generate_series(1, %s) AS i
"""
LINKS = """
WITH m AS (SELECT id, tenant, row_number() OVER (PARTITION BY tenant ORDER BY created_at, id) AS rn FROM memories_memory)
INSERT INTO graph_link (tenant, source_id, target_id, link_type, strength, metadata, created_at)
SELECT a.tenant, a.id, b.id, 'next', a.rn / 3.0, jsonb_build_object('rn', a.rn), clock_timestamp()
FROM m a JOIN m b ON a.tenant = b.tenant AND b.rn = a.rn + 1 WHERE a.rn % 5 = 0
"""


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--memories", type=int, default=100_000)
    args = parser.parse_args()

    import psycopg

    admin = "postgres://postgres@127.0.0.1:5432/postgres"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {DATABASE} WITH (FORCE)")
        conn.execute(f"CREATE DATABASE {DATABASE}")
    os.environ.update(
        {
            "DATABASE_URL": f"postgres://postgres@127.0.0.1:5432/{DATABASE}",
            "DJANGO_SETTINGS_MODULE": "soma_project.settings",
            "SOMA_ENV": "development",
            "SOMA_API_TOKEN": "bench",
            "DJANGO_SECRET_KEY": "bench",
            "SOMA_DB_POOL": "false",
            "SOMA_DATA_DIR": tempfile.mkdtemp(prefix="rely-roundtrip-"),
        }
    )
    os.environ.pop("REDIS_URL", None)
    import django
    from django.core.management import call_command
    from django.db import connection

    django.setup()
    call_command("migrate", verbosity=0)

    def columns() -> dict[str, str]:
        out = {}
        with connection.cursor() as cursor:
            for column in (
                "tenant",
                "namespace",
                "coordinate::text",
                "coord_key",
                "memory_type",
                "payload::text",
                "text",
                "metadata::text",
                "importance::text",
                "created_at::text",
                "updated_at::text",
            ):
                cursor.execute(f"SELECT md5(string_agg({column}, ',' ORDER BY id)) FROM memories_memory")
                out[column] = cursor.fetchone()[0]
        return out

    def fingerprint() -> tuple[tuple[int, str], tuple[int, str]]:
        with connection.cursor() as cursor:
            cursor.execute(MEMORY_FINGERPRINT)
            memories = cursor.fetchone()
            cursor.execute(LINK_FINGERPRINT)
            links = cursor.fetchone()
        return memories, links  # type: ignore[return-value]

    try:
        with connection.cursor() as cursor:
            cursor.execute(FILL, [args.memories])
            cursor.execute(LINKS)  # no parameters: '%' stays an operator
        original = fingerprint()
        original_columns = columns()
        path = Path(os.environ["SOMA_DATA_DIR"]) / "export.jsonl"
        print(f"$ manage.py export_memories -o {path}   # {original[0][0]} memories, {original[1][0]} links")

        started = time.perf_counter()
        call_command("export_memories", "-o", str(path), "--no-progress", stderr=io.StringIO())
        export_s = time.perf_counter() - started
        size_mb = path.stat().st_size / 1e6

        with connection.cursor() as cursor:
            cursor.execute("TRUNCATE graph_link, memories_memory")
        started = time.perf_counter()
        err = io.StringIO()
        call_command("import_memories", "-i", str(path), "--no-progress", stderr=err)
        import_s = time.perf_counter() - started
        restored = fingerprint()
        changed = [c for c, v in columns().items() if original_columns[c] != v]
        if changed:
            print("columns that differ:", changed)

        started = time.perf_counter()
        again = io.StringIO()
        call_command("import_memories", "-i", str(path), "--no-progress", stderr=again)
        reimport_s = time.perf_counter() - started
        after_reimport = fingerprint()

        records = original[0][0] + original[1][0]
        print(f"export:   {export_s:6.1f} s  ({records / export_s:,.0f} records/s, {size_mb:.1f} MB)")
        print(f"import:   {import_s:6.1f} s  ({records / import_s:,.0f} records/s)  {err.getvalue().strip()}")
        print(f"reimport: {reimport_s:6.1f} s  {again.getvalue().strip()}")
        print(f"fingerprint original  {original}")
        print(f"fingerprint restored  {restored}")
        exact = original == restored == after_reimport
        print("EXACT ROUND TRIP" if exact else "MISMATCH")
        if not exact:
            sys.exit(1)
    finally:
        connection.close()
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f"DROP DATABASE IF EXISTS {DATABASE} WITH (FORCE)")


if __name__ == "__main__":
    main()
