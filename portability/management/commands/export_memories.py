from __future__ import annotations

import json
import sys
from typing import Any

from django.core.management.base import BaseCommand, CommandParser
from tqdm import tqdm

from portability.services import export_count, records_export


class Command(BaseCommand):
    help = "Write every memory, then every link, as JSON Lines (a backup, or a move to another server)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--tenant", default=None, help="Only this tenant's memories and links.")
        parser.add_argument("-o", "--output", default="-", help="File to write (default: standard output).")
        parser.add_argument("--chunk-size", type=int, default=2000, help="Rows fetched per database round trip.")
        parser.add_argument("--no-progress", action="store_true", help="No progress bar on standard error.")

    def handle(self, *args: Any, **options: Any) -> None:
        tenant = options["tenant"]
        total = export_count(tenant=tenant)
        to_stdout = options["output"] == "-"
        out: Any = self.stdout._out if to_stdout else open(options["output"], "w", encoding="utf-8")  # noqa: SIM115
        written = 0
        try:
            with tqdm(total=total, unit="rec", file=sys.stderr, disable=options["no_progress"]) as progress:
                for record in records_export(tenant=tenant, chunk_size=options["chunk_size"]):
                    out.write(json.dumps(record, ensure_ascii=False, separators=(",", ":")) + "\n")
                    if record["type"] != "header":
                        written += 1
                        progress.update(1)
        finally:
            if not to_stdout:
                out.close()
        self.stderr.write(self.style.SUCCESS(f"Exported {written} records (memories and links)."))
