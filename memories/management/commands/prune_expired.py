from __future__ import annotations

import sys
import time
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import DatabaseError
from tqdm import tqdm

from memories.aging import DELETE_CHUNK, memories_expired_purge


class Command(BaseCommand):
    help = "Delete the memories whose expires_at has passed (they are already hidden from every read)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--tenant", help="Only this tenant's memories.")
        parser.add_argument(
            "--batch-size",
            type=int,
            default=DELETE_CHUNK,
            help=f"Memories deleted per transaction (default {DELETE_CHUNK}).",
        )
        parser.add_argument("--dry-run", action="store_true", help="Count what would be purged; delete nothing.")

    def handle(self, *args: Any, **options: Any) -> None:
        batch_size: int = options["batch_size"]
        if not 1 <= batch_size <= 10_000:
            raise CommandError("--batch-size must be between 1 and 10000.")
        scope = f"tenant={options['tenant']}" if options["tenant"] else "all tenants"
        started = time.monotonic()
        try:
            if options["dry_run"]:
                found = memories_expired_purge(dry_run=True, tenant=options["tenant"])
                self.stdout.write(self.style.SUCCESS(f"Dry run: would purge {found.count} expired memories ({scope})."))
                return
            # The raw stream: OutputWrapper would end every \r redraw with a newline.
            stream = getattr(self.stderr, "_out", sys.stderr)
            with tqdm(unit="memory", file=stream, disable=options["verbosity"] < 1, desc="prune_expired") as bar:

                def progress(done: int, total: int) -> None:
                    bar.total = total
                    bar.update(done - bar.n)

                result = memories_expired_purge(tenant=options["tenant"], chunk=batch_size, progress=progress)
        except DatabaseError as exc:
            raise CommandError(f"prune_expired failed: {exc}") from exc
        seconds = time.monotonic() - started
        self.stdout.write(self.style.SUCCESS(f"Purged {result.count} expired memories ({scope}) in {seconds:.1f} s."))
