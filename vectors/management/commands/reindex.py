from __future__ import annotations

import time
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from core.management import DatabaseErrorsExplained
from memories.management.batches import add_batch_size, batch_size, progress_bar
from vectors.management.commands._common import open_store, store_error
from vectors.services.indexing import DEFAULT_BATCH_SIZE
from vectors.services.maintenance import (
    MaintenanceBusy,
    maintenance_lock,
    memories_reindex,
    memories_to_index,
    points_recreate,
)
from vectors.stores.base import VectorStoreError


class Command(DatabaseErrorsExplained, BaseCommand):
    help = "Embed memories again and upsert their vectors (PostgreSQL is the truth)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--tenant", help="Only this tenant's memories.")
        parser.add_argument("--namespace", help="Only memories in this namespace.")
        parser.add_argument("--dirty", action="store_true", help="Only memories whose vector is pending or failed.")
        parser.add_argument(
            "--recreate", action="store_true", help="Drop and recreate the collection, then index every memory."
        )
        add_batch_size(parser, default=DEFAULT_BATCH_SIZE, per_batch="Memories per embedding call and upsert")
        parser.add_argument("--dry-run", action="store_true", help="Count what would be indexed; write nothing.")

    def handle(self, *args: Any, **options: Any) -> None:
        tenant, namespace, dirty = options["tenant"], options["namespace"], options["dirty"]
        size = batch_size(options)
        if options["recreate"] and (tenant or namespace or dirty):
            raise CommandError(
                "--recreate empties the whole collection: it cannot be combined with --tenant, --namespace or --dirty."
            )
        scope = (
            ", ".join(
                part
                for part in (
                    f"tenant={tenant}" if tenant else "",
                    f"namespace={namespace}" if namespace else "",
                    "dirty only" if dirty else "",
                )
                if part
            )
            or "all memories"
        )
        total = memories_to_index(tenant=tenant, namespace=namespace, dirty=dirty).count()
        if options["dry_run"]:
            recreate = " after recreating the collection" if options["recreate"] else ""
            self.stdout.write(self.style.SUCCESS(f"Dry run: would index {total} memories ({scope}){recreate}."))
            return
        open_store()
        try:
            with maintenance_lock():
                self._run(
                    tenant,
                    namespace,
                    dirty,
                    size,
                    total,
                    scope,
                    recreate=options["recreate"],
                    verbosity=options["verbosity"],
                )
        except MaintenanceBusy as exc:
            raise CommandError(f"{exc}: try again when it has finished.") from exc
        except VectorStoreError as exc:
            raise store_error(exc) from exc

    def _run(
        self,
        tenant: str | None,
        namespace: str | None,
        dirty: bool,
        batch_size: int,
        total: int,
        scope: str,
        *,
        recreate: bool,
        verbosity: int,
    ) -> None:
        started = time.monotonic()
        if recreate:
            points_recreate()
        with progress_bar(self, desc="reindex", unit="memory", verbosity=verbosity, total=total) as bar:
            summary = memories_reindex(
                tenant=tenant, namespace=namespace, dirty=dirty, batch_size=batch_size, progress=bar.update
            )
        seconds = time.monotonic() - started
        rate = summary.indexed / seconds if seconds > 0 else 0.0
        line = (
            f"Reindexed {scope}: {summary.indexed} indexed, {summary.failed} failed, "
            f"{summary.skipped} gone meanwhile, {summary.embedded} embedded (rest cached) "
            f"in {seconds:.1f} s ({rate:.0f}/s)."
        )
        if summary.failed:
            raise CommandError(
                f"{line} First error: {summary.errors[0] if summary.errors else 'unknown'}. "
                "Fix the cause and run `reindex --dirty`."
            )
        self.stdout.write(self.style.SUCCESS(line))
