from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from core.management import DatabaseErrorsExplained
from vectors.management.commands._common import open_store, store_error
from vectors.services.drift import vectors_drift
from vectors.services.indexing import DEFAULT_BATCH_SIZE
from vectors.services.maintenance import MaintenanceBusy, maintenance_lock, vectors_fix
from vectors.stores.base import VectorStoreError

SAMPLE_IDS = 5


class Command(DatabaseErrorsExplained, BaseCommand):
    help = "Compare PostgreSQL with the vector store: memories without an indexed point, points without a memory."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--fix", action="store_true", help="Index the missing memories and delete orphan points.")

    def handle(self, *args: Any, **options: Any) -> None:
        open_store()
        try:
            if options["fix"]:
                with maintenance_lock():
                    self._check(fix=True)
            else:
                self._check(fix=False)
        except MaintenanceBusy as exc:
            raise CommandError(f"{exc}: try again when it has finished.") from exc
        except VectorStoreError as exc:
            raise store_error(exc) from exc

    def _check(self, *, fix: bool) -> None:
        drift = vectors_drift()
        self._report(drift)
        missing = sum(len(tenant.missing) for tenant in drift)
        orphans = sum(len(tenant.orphans) for tenant in drift)
        if not missing and not orphans:
            self.stdout.write(self.style.SUCCESS("No drift: every memory is indexed and every point has its memory."))
            return
        if not fix:
            raise CommandError(
                f"Drift: {missing} memories missing from the vector store, {orphans} orphan points. "
                "Run `vectors_check --fix` (or `reindex --dirty` for the missing ones)."
            )
        summary = vectors_fix(drift=drift, batch_size=DEFAULT_BATCH_SIZE)
        remaining = vectors_drift()
        left = sum(len(t.missing) + len(t.orphans) for t in remaining)
        if summary.failed or left:
            error = summary.errors[0] if summary.errors else "see the report above"
            raise CommandError(
                f"Fixed partly: {summary.indexed} indexed, {summary.failed} failed, "
                f"{left} still drifting. First error: {error}."
            )
        self.stdout.write(
            self.style.SUCCESS(
                f"Fixed: {summary.indexed} memories indexed, {orphans} orphan points deleted; no drift left."
            )
        )

    def _report(self, drift: list[Any]) -> None:
        self.stdout.write(f"{'tenant':<24} {'memories':>9} {'points':>9} {'missing':>8} {'orphans':>8}")
        for tenant in drift:
            name = tenant.tenant or "(tenant unknown)"
            self.stdout.write(
                f"{name:<24} {tenant.memories:>9} {tenant.points:>9} {len(tenant.missing):>8} {len(tenant.orphans):>8}"
            )
            for label, ids in (("missing", tenant.missing), ("orphan", tenant.orphans)):
                if ids:
                    more = f" (+{len(ids) - SAMPLE_IDS} more)" if len(ids) > SAMPLE_IDS else ""
                    self.stdout.write(f"  {label}: {', '.join(sorted(ids)[:SAMPLE_IDS])}{more}")
