"""Expiry instants outside years 1..9999 (in UTC) brought back to the nearest readable one.

Before this release a request could set `expires_at` to "9999-12-31T23:59:59-05:00" (the year 10000 in
UTC) or "0001-01-01T00:00:00+05:00" (the year 0): PostgreSQL stores both, but no Python datetime
holds them, so every read of such a memory failed (a 400), its namespace's lists and searches
with it, its history answered 500 and the expiry purger failed on every pass. The requests are
refused now (core.jsonrules.IsoDateTime); this moves what was stored to the last (or first)
readable instant, which keeps what the expiry meant: far in the future, or long past.
Versions' snapshots hold the instant as text: those naming such an instant are moved alike.
"""

from django.db import migrations

LAST = "9999-12-31 23:59:59.999999+00"
FIRST = "0001-01-01 00:00:00+00"
# A snapshot's expires_at is an ISO-8601 string (as Python or PostgreSQL wrote it) or null; the
# pattern (tested before the cast, in the CASE) keeps the cast from reading anything else.
_SNAPSHOT_MOMENT = r"^[0-9]{4,}-[0-9]{2}-[0-9]{2}T[0-9:.]+([+-][0-9:]+|Z)?( BC)?$"

FORWARD = [
    f"UPDATE memories_memory SET expires_at = '{LAST}' WHERE expires_at > '{LAST}'",
    f"UPDATE memories_memory SET expires_at = '{FIRST}' WHERE expires_at < '{FIRST}'",
    f"""
    UPDATE memories_memoryversion AS v
    SET snapshot = jsonb_set(v.snapshot, '{{expires_at}}', to_jsonb(
        LEAST(GREATEST((v.snapshot ->> 'expires_at')::timestamptz, '{FIRST}'), '{LAST}')))
    WHERE jsonb_typeof(v.snapshot -> 'expires_at') = 'string'
      AND CASE WHEN (v.snapshot ->> 'expires_at') ~ '{_SNAPSHOT_MOMENT}'
          THEN (v.snapshot ->> 'expires_at')::timestamptz NOT BETWEEN '{FIRST}' AND '{LAST}'
          ELSE false END
    """,
]


class Migration(migrations.Migration):
    dependencies = [
        ("memories", "0006_memory_aging"),
    ]

    operations = [migrations.RunSQL(FORWARD, migrations.RunSQL.noop)]
