from __future__ import annotations

import json
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from tqdm import tqdm

from core.errors import InvalidInput
from core.management import DatabaseErrorsExplained
from portability.services import needs_end_record, records_import, records_parse


class Command(DatabaseErrorsExplained, BaseCommand):
    help = (
        "Read an export_memories file (JSON Lines). Idempotent: memories present by id or coordinate and "
        "links present are kept as they are. A file cut short is refused at its end. Imported memories await "
        "`manage.py reindex --dirty`."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("-i", "--input", default="-", help="File to read (default: standard input).")
        parser.add_argument("--tenant", default=None, help="Only this tenant's records.")
        parser.add_argument(
            "--dry-run", action="store_true", help="Import in a transaction rolled back at the end: the real counts."
        )
        parser.add_argument("--no-progress", action="store_true", help="No progress bar on standard error.")

    def handle(self, *args: Any, **options: Any) -> None:
        if options["input"] != "-":
            _refuse_a_cut_file(Path(options["input"]))
        source = sys.stdin if options["input"] == "-" else _opened(Path(options["input"]))
        try:
            with tqdm(_decoded(source), unit="line", file=sys.stderr, disable=options["no_progress"]) as lines:
                summary = records_import(
                    records=records_parse(lines), tenant=options["tenant"], dry_run=options["dry_run"]
                )
        except InvalidInput as exc:
            stored = "nothing was stored" if options["dry_run"] else "earlier batches are stored; re-running is safe"
            raise CommandError(f"Import stopped at {exc.detail} ({stored}).") from None
        finally:
            if source is not sys.stdin:
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
                + (
                    " Run `manage.py reindex --dirty` to embed them."
                    if summary.memories_created and not options["dry_run"]
                    else ""
                )
            )
        )
        if options["tenant"] is not None and summary.records_of_other_tenants and not summary.records_of_tenant:
            self.stderr.write(
                self.style.WARNING(
                    f"The file holds no record of tenant {options['tenant']!r} "
                    f"({summary.records_of_other_tenants} of other tenants were left out)."
                )
            )


def _refuse_a_cut_file(path: Path) -> None:
    """A file (version 4 on) whose last line is not its end record is refused before anything is
    stored. records_parse checks the whole file again as it is read (the count too); standard
    input can only be checked at its end."""
    try:
        with path.open("rb") as raw:
            header = json.loads(raw.readline() or b"null")
            raw.seek(0, os.SEEK_END)
            raw.seek(max(0, raw.tell() - 65536))
            tail = [line for line in raw.read().splitlines() if line.strip()]
        last = json.loads(tail[-1]) if tail else None
    except (OSError, ValueError, RecursionError):
        return  # the real read reports it, with its line
    if needs_end_record(header) and not (isinstance(last, dict) and last.get("type") == "end"):
        raise CommandError(
            f"{path}: the file does not end with its end record: the export was cut short; nothing was stored."
        )


def _opened(path: Path) -> IO[str]:
    try:
        return path.open(encoding="utf-8")
    except OSError as exc:
        raise CommandError(f"cannot read {str(path)!r}: {exc.strerror or exc}.") from None


def _decoded(source: IO[str]) -> Iterator[str]:
    """The file's lines; a file that is not UTF-8 text is refused with its line, not a traceback."""
    number = 0
    try:
        for number, line in enumerate(source, start=1):  # noqa: B007 - read in the except clause
            yield line
    except UnicodeDecodeError:
        raise CommandError(
            f"line {number + 1} is not UTF-8 text: is this an export_memories file (a gzipped one: gunzip it first)?"
        ) from None
