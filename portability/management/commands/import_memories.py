from __future__ import annotations

import sys
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from tqdm import tqdm

from core.errors import InvalidInput
from portability.services import records_import, records_parse


class Command(BaseCommand):
    help = (
        "Read an export_memories file (JSON Lines). Idempotent: memories present by id or coordinate and "
        "links present are kept as they are. Imported memories await `manage.py reindex --dirty`."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("-i", "--input", default="-", help="File to read (default: standard input).")
        parser.add_argument("--tenant", default=None, help="Only this tenant's records.")
        parser.add_argument("--dry-run", action="store_true", help="Check and count; write nothing.")
        parser.add_argument("--no-progress", action="store_true", help="No progress bar on standard error.")

    def handle(self, *args: Any, **options: Any) -> None:
        from_stdin = options["input"] == "-"
        source = sys.stdin if from_stdin else open(options["input"], encoding="utf-8")  # noqa: SIM115
        try:
            with tqdm(source, unit="line", file=sys.stderr, disable=options["no_progress"]) as lines:
                summary = records_import(
                    records=records_parse(lines), tenant=options["tenant"], dry_run=options["dry_run"]
                )
        except InvalidInput as exc:
            raise CommandError(
                f"Import stopped at {exc.detail} (earlier batches are stored; re-running is safe)."
            ) from None
        finally:
            if not from_stdin:
                source.close()
        verb = "Would import" if options["dry_run"] else "Imported"
        nodes = ""
        if summary.nodes_created or summary.nodes_skipped:
            nodes = f", {summary.nodes_created} coordinate nodes ({summary.nodes_skipped} already present)"
        self.stderr.write(
            self.style.SUCCESS(
                f"{verb} {summary.memories_created} memories ({summary.memories_skipped} already present){nodes} and "
                f"{summary.links_created} links ({summary.links_skipped} present or without both ends) and "
                f"{summary.versions_created} versions of their history ({summary.versions_skipped} already present)."
                + ("" if options["dry_run"] else " Run `manage.py reindex --dirty` to embed them.")
            )
        )
