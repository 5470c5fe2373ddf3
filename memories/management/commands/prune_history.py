from __future__ import annotations

import sys
import time
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser
from tqdm import tqdm

from memories.history_services import PRUNE_BATCH, history_prune


class Command(BaseCommand):
    help = (
        "Drop memory versions and deleted memories older than SOMA_HISTORY_RETENTION_DAYS "
        "(a live memory keeps its current version), and idempotency keys older than 24 hours."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--dry-run", action="store_true", help="Count what would be pruned; delete nothing.")
        parser.add_argument(
            "--batch-size", type=int, default=PRUNE_BATCH, help=f"Versions per transaction (default {PRUNE_BATCH})."
        )

    def handle(self, *args: Any, **options: Any) -> None:
        batch_size: int = options["batch_size"]
        if not 1 <= batch_size <= 100_000:
            raise CommandError("--batch-size must be between 1 and 100000.")
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
        # The raw stream: OutputWrapper would end every \r redraw with a newline.
        stream = getattr(self.stderr, "_out", sys.stderr)
        bar_off = options["verbosity"] < 1
        with tqdm(total=planned.versions, unit="version", file=stream, disable=bar_off, desc="prune_history") as bar:
            summary = history_prune(batch_size=batch_size, progress=bar.update)
        self.stdout.write(
            self.style.SUCCESS(
                f"Pruned {summary.versions} versions ({summary.tombstones} deleted memories), "
                f"{summary.idempotency_keys} idempotency keys (retention {days} days) "
                f"in {time.monotonic() - started:.1f} s."
            )
        )
