from django.contrib.postgres.operations import TrigramExtension
from django.db import migrations

# Indexes only the console's pages need, measured on 100,000 rows by bench/bench_console.py:
# - the unfiltered changelist orders every memory by (created_at, id): without an index on that
#   order each page load sorts the whole table;
# - the payload search is `payload::text ILIKE '%term%'`: without a trigram index a term that
#   matches few rows reads the whole table.
# CONCURRENTLY (hence atomic = False): the table is live and may be large when this runs.
INDEXES = {
    "console_memory_recent": "ON memories_memory (created_at DESC, id DESC)",
    "console_memory_payload_trgm": "ON memories_memory USING gin ((payload::text) gin_trgm_ops)",
}


class Migration(migrations.Migration):
    atomic = False
    dependencies = [("console", "0001_curators_group"), ("memories", "0001_initial")]

    operations = [
        TrigramExtension(),
        *(
            migrations.RunSQL(
                f"CREATE INDEX CONCURRENTLY IF NOT EXISTS {name} {definition}",
                f"DROP INDEX CONCURRENTLY IF EXISTS {name}",
            )
            for name, definition in INDEXES.items()
        ),
    ]
