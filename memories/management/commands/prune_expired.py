from __future__ import annotations

import time
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import DatabaseError

from core.management import DatabaseErrorsExplained
from memories.aging import DELETE_CHUNK, memories_expired_purge
from memories.management.batches import add_batch_size, batch_size, progress_bar


class Command(DatabaseErrorsExplained, BaseCommand):
    help = "Delete the memories whose expires_at has passed (they are already hidden from every read)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--tenant", help="Only this tenant's memories.")
        add_batch_size(parser, default=DELETE_CHUNK, per_batch="Memories deleted per transaction")
        parser.add_argument("--dry-run", action="store_true", help="Count what would be purged; delete nothing.")

    def handle(self, *args: Any, **options: Any) -> None:
        chunk = batch_size(options)
        scope = f"tenant={options['tenant']}" if options["tenant"] else "all tenants"
        started = time.monotonic()
        try:
            if options["dry_run"]:
                found = memories_expired_purge(dry_run=True, tenant=options["tenant"])
                self.stdout.write(self.style.SUCCESS(f"Dry run: would purge {found.count} expired memories ({scope})."))
                return
            with progress_bar(self, desc="prune_expired", unit="memory", verbosity=options["verbosity"]) as bar:

                def progress(done: int, total: int) -> None:
                    bar.total = total
                    bar.update(done - bar.n)

                result = memories_expired_purge(tenant=options["tenant"], chunk=chunk, progress=progress)
        except DatabaseError as exc:
            raise CommandError(f"prune_expired failed: {exc}") from exc
        seconds = time.monotonic() - started
        self.stdout.write(self.style.SUCCESS(f"Purged {result.count} expired memories ({scope}) in {seconds:.1f} s."))
