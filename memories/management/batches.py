"""What the batched maintenance commands (prune_expired, prune_history, reindex) share: a bounded
`--batch-size` and a progress bar on the terminal."""

from __future__ import annotations

import sys
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from tqdm import tqdm


def add_batch_size(parser: CommandParser, *, default: int, per_batch: str) -> None:
    parser.add_argument("--batch-size", type=int, default=default, help=f"{per_batch} (default {default}).")


def batch_size(options: dict[str, Any], *, maximum: int = 10_000) -> int:
    size: int = options["batch_size"]
    if not 1 <= size <= maximum:
        raise CommandError(f"--batch-size must be between 1 and {maximum}.")
    return size


def progress_bar(command: BaseCommand, *, desc: str, unit: str, verbosity: int, total: int | None = None) -> tqdm:
    # The raw stream: OutputWrapper would end every \r redraw with a newline.
    stream = getattr(command.stderr, "_out", sys.stderr)
    return tqdm(total=total, unit=unit, file=stream, disable=verbosity < 1, desc=desc)
