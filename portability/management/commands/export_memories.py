from __future__ import annotations

import collections
import json
import os
import sys
import tempfile
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from tqdm import tqdm

from core.management import DatabaseErrorsExplained
from portability.services import export_count, records_export

MAX_CHUNK = 100_000


class Command(DatabaseErrorsExplained, BaseCommand):
    help = (
        "Write every memory, bare coordinate node, link and version of the history as JSON Lines, between a header "
        "and an end record that counts them (a backup, or a move to another server)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--tenant", default=None, help="Only this tenant's records.")
        parser.add_argument(
            "-o", "--output", default="-", help="File to write (default: standard output); written whole or not at all."
        )
        parser.add_argument(
            "--chunk-size",
            type=int,
            default=2000,
            help=f"Rows fetched per database round trip (1 to {MAX_CHUNK}, default 2000).",
        )
        parser.add_argument("--no-progress", action="store_true", help="No progress bar on standard error.")

    def handle(self, *args: Any, **options: Any) -> None:
        if not 1 <= options["chunk_size"] <= MAX_CHUNK:
            raise CommandError(f"--chunk-size must be from 1 to {MAX_CHUNK}, not {options['chunk_size']}.")
        tenant = options["tenant"]
        total = export_count(tenant=tenant)
        counts: collections.Counter[str] = collections.Counter()
        if options["output"] == "-":
            try:
                self._write(self.stdout._out, tenant=tenant, total=total, counts=counts, options=options)
            except BrokenPipeError:
                # The reader went away (`| head`): the output is incomplete, and says so by its missing
                # end. Nothing more can reach it: point standard output at /dev/null so the exit's
                # flush raises nothing more.
                os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
                raise CommandError("the reader of standard output went away: the export is incomplete.") from None
            except OSError as exc:
                raise CommandError(f"cannot write the export to standard output: {exc.strerror or exc}.") from None
        else:
            self._to_file(Path(options["output"]), tenant=tenant, total=total, counts=counts, options=options)
        parts = ", ".join(f"{counts[kind]} {label}" for kind, label in _KINDS)
        self.stderr.write(self.style.SUCCESS(f"Exported {sum(counts.values())} records: {parts}."))

    def _to_file(self, target: Path, **write: Any) -> None:
        """Written beside the target under a temporary name and renamed when whole, so a failed
        export (a full disk, an interruption) never leaves a file that looks like a backup."""
        if not target.name or target.is_dir():
            raise CommandError(f"--output {str(target)!r} is not a file name.")
        try:
            handle, temporary = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".partial")
        except OSError as exc:
            raise CommandError(f"cannot write in {str(target.parent)!r}: {exc.strerror or exc}.") from None
        try:
            with os.fdopen(handle, "w", encoding="utf-8") as out:
                self._write(out, **write)
            os.replace(temporary, target)
        except OSError as exc:
            raise CommandError(f"cannot write {str(target)!r}: {exc.strerror or exc}; nothing was written.") from None
        finally:
            Path(temporary).unlink(missing_ok=True)

    def _write(
        self, out: Any, *, tenant: str | None, total: int, counts: collections.Counter[str], options: Any
    ) -> None:
        with tqdm(total=total, unit="rec", file=sys.stderr, disable=options["no_progress"]) as progress:
            for record in records_export(tenant=tenant, chunk_size=options["chunk_size"]):
                out.write(json.dumps(record, ensure_ascii=False, separators=(",", ":")) + "\n")
                if record["type"] not in ("header", "end"):
                    counts[record["type"]] += 1
                    progress.update(1)
        out.flush()


_KINDS = (("memory", "memories"), ("node", "coordinate nodes"), ("link", "links"), ("version", "versions"))
