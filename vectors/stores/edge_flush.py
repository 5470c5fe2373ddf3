"""How the embedded engine's writes become durable: flush windows and their record.

`EdgeShard.update()` writes the engine's WAL into the page cache only: that survives a killed
process (the engine replays its WAL when it opens) but not a power cut or a kernel crash.
`flush()` makes it durable (msync of the WAL, fsync of the segments): ~15-20 ms here, holding
the GIL, so the embedded store flushes once per SOMA_VECTOR_FLUSH_INTERVAL instead of after
every write (a Qdrant server flushes on an interval too).

Every write belongs to a flush window, a number that grows (microseconds since 1970, or the
previous window + 1). The indexing records the window in `Memory.vector_epoch` when it marks a
memory indexed. A flush ends the current window and then records it in `<collection>.flushed.json`
(written atomically, fsynced): every write of that window or an earlier one is on disk. When the
store opens, windows after the recorded one and before its own first window may be lost (a power
cut, or a store folder restored from a copy taken before its last flush): `lost_windows` names
them and `vectors.services.maintenance.points_recover` makes their memories pending again, to be indexed anew.
"""

from __future__ import annotations

import json
import logging
import os
import threading
import time
from collections.abc import Callable
from pathlib import Path

from vectors.metrics import VECTOR_FLUSH_SECONDS

logger = logging.getLogger("soma.vectors")


def now_window() -> int:
    return time.time_ns() // 1000


def atomic_write_json(path: Path, data: dict[str, object]) -> None:
    """Write a temporary file, fsync it, rename it over `path`, fsync the folder."""
    temporary = path.with_name(path.name + ".tmp")
    with open(temporary, "w") as handle:
        json.dump(data, handle)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(temporary, path)
    directory = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(directory)
    finally:
        os.close(directory)


class FlushRecord:
    """`<collection>.flushed.json`: the last flush window known to be on disk (0: none)."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def read(self) -> int:
        try:
            value = json.loads(self.path.read_text()).get("durable_window", 0)
        except (OSError, ValueError, AttributeError):
            return 0
        return value if isinstance(value, int) and value > 0 else 0

    def write(self, window: int) -> None:
        atomic_write_json(self.path, {"durable_window": window})


class Flusher:
    """A daemon thread that calls `flush()` every `interval` seconds while the store is open."""

    def __init__(self, *, interval: float, flush: Callable[[], bool]) -> None:
        self.interval = interval
        self._flush = flush
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="soma-vector-flush", daemon=True)
        self._thread.start()

    def _loop(self) -> None:
        while not self._stop.wait(self.interval):
            started = time.perf_counter()
            try:
                if self._flush():
                    VECTOR_FLUSH_SECONDS.observe(time.perf_counter() - started)
            except Exception:
                # The next tick tries again; until one succeeds the window stays open (not recorded).
                logger.exception("vector store flush failed")

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not threading.current_thread():
            self._thread.join(timeout=30)
