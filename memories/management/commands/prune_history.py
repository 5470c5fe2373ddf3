from __future__ import annotations

import time
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandParser

from core.management import DatabaseErrorsExplained
from memories.history_services import PRUNE_BATCH, history_prune
from memories.management.batches import add_batch_size, batch_size, progress_bar


class Command(DatabaseErrorsExplained, BaseCommand):
    help = (
        "Drop memory versions and deleted memories older than SOMA_HISTORY_RETENTION_DAYS "
        "(a live memory keeps its current version), and idempotency keys older than 24 hours."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--dry-run", action="store_true", help="Count what would be pruned; delete nothing.")
        add_batch_size(parser, default=PRUNE_BATCH, per_batch="Versions per transaction")

    def handle(self, *args: Any, **options: Any) -> None:
        size = batch_size(options, maximum=100_000)
        days = settings.SOMA_HISTORY_RETENTION_DAYS
        planned = history_prune(dry_run=True)
        if options["dry_run"]:
            self.stdout.write(
                self.style.SUCCESS(
                    f"Would prune {planned.versions} versions ({planned.tombstones} deleted memories), "
                    f"{planned.idempotency_keys} idempotency keys (retention {days} days)."
                )
            )
            return
        started = time.monotonic()
        verbosity = options["verbosity"]
        with progress_bar(
            self, desc="prune_history", unit="version", verbosity=verbosity, total=planned.versions
        ) as bar:
            summary = history_prune(batch_size=size, progress=bar.update)
        self.stdout.write(
            self.style.SUCCESS(
                f"Pruned {summary.versions} versions ({summary.tombstones} deleted memories), "
                f"{summary.idempotency_keys} idempotency keys (retention {days} days) "
                f"in {time.monotonic() - started:.1f} s."
            )
        )
